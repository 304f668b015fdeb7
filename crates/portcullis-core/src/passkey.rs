//! Passkeys and security keys (WebAuthn): what is stored of a user's credential, and the
//! authentication methods a use of it proves.

use crate::{AuthMethod, UnixSeconds};

/// Longest name a user may give a passkey.
pub const MAX_PASSKEY_NAME: usize = 64;

/// A user's registered WebAuthn credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The credential id the authenticator chose (unique across users).
    pub credential_id: Vec<u8>,
    /// The user.
    pub user_id: String,
    /// The name the user gave it.
    pub name: String,
    /// The credential as the WebAuthn library keeps it (public key, algorithm, signature
    /// counter, backup flags), JSON.
    pub credential: String,
    /// Whether the credential may be synced to other devices (the BE flag).
    pub backup_eligible: bool,
    /// Whether it is backed up now (the BS flag).
    pub backed_up: bool,
    /// When it was registered.
    pub created_at: UnixSeconds,
    /// When it was last used to sign in.
    pub last_used_at: Option<UnixSeconds>,
}

/// The methods a use of a credential proves (RFC 8176 §2): possession of a key (`swk`: without
/// attestation nothing shows the key is held in hardware, and the backup flags are the
/// authenticator's own word, so `hwk` is never claimed), the user's presence (`user`), and, when
/// the authenticator verified the user (by PIN or biometric: RFC 8176 has no value for "either",
/// so `pin`), that too, which with the key makes two factors.
pub fn passkey_methods(user_verified: bool) -> Vec<AuthMethod> {
    let mut methods = vec![AuthMethod::SoftwareKey, AuthMethod::UserPresence];
    if user_verified {
        methods.push(AuthMethod::UserVerification);
    }
    methods
}

/// Whether passkey ceremonies need the authenticator to verify the user (by PIN or biometric;
/// W3C WebAuthn §5.8.6), as the server is configured.
///
/// A sign-in with a passkey alone always needs it: without it a passkey would be a single
/// factor that anyone holding the device could use without even a username.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserVerification {
    /// Every registration and every use verifies the user (the default).
    #[default]
    Required,
    /// Verification is asked for but not needed, so security keys without a PIN can be
    /// registered and used as the second factor after a password; such a use proves
    /// possession only (no `pin` in `amr`). A key that verified the user when it was registered
    /// must do so every time.
    Preferred,
}

/// A name a user gave a passkey, trimmed; `None` when empty, too long or with control
/// characters.
pub fn passkey_name(typed: &str) -> Option<String> {
    let name = typed.trim();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_PASSKEY_NAME
        && !name.chars().any(char::is_control);
    valid.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Acr, AuthMethods};

    #[test]
    fn a_verified_key_is_two_factors_and_never_claimed_as_hardware() {
        let verified = AuthMethods::of(&passkey_methods(true));
        assert_eq!(verified.values(), ["swk", "user", "pin", "mfa"]);
        assert_eq!(verified.acr(), Acr::MultiFactor);
        let presence_only = AuthMethods::of(&passkey_methods(false));
        assert_eq!(presence_only.acr(), Acr::OneFactor);
        // After a password, even a key without verification makes two factors.
        let second = AuthMethods::password().with(&passkey_methods(false));
        assert_eq!(second.values(), ["pwd", "swk", "user", "mfa"]);
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(passkey_name("  Laptop  ").as_deref(), Some("Laptop"));
        assert_eq!(passkey_name(""), None);
        assert_eq!(passkey_name("a\nb"), None);
        assert_eq!(passkey_name(&"x".repeat(65)), None);
    }
}
