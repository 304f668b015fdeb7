//! The WebAuthn relying party: the options of each passkey ceremony, built with the server's
//! user-verification policy, and the verification of the responses (both by `webauthn-rs-core`).
//!
//! The ceremonies mirror `webauthn-rs`'s passkey ones (the same algorithms, extensions and
//! checks), with the user-verification policy configurable, which that crate's high-level API
//! fixes. What the library leaves to its caller is upheld in [`crate::passkeys`]: states kept
//! from tampering (sealed) and used once, credential ids unique across users, the user handle of
//! a discoverable credential matched to its owner.

use portcullis_core::passkey::UserVerification;
use std::time::Duration;
use url::Url;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationResult, AuthenticationState,
    CreationChallengeResponse, CredProtect, Credential, CredentialID, CredentialProtectionPolicy,
    Mediation, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState,
    RequestAuthenticationExtensions, RequestChallengeResponse, RequestRegistrationExtensions,
    ResidentKeyRequirement, UserVerificationPolicy,
};

/// How long the browser may wait for the authenticator.
const AUTHENTICATOR_TIMEOUT: Duration = Duration::from_secs(300);

/// This server as a WebAuthn relying party.
#[derive(Debug)]
pub struct RelyingParty {
    core: WebauthnCore,
    user_verification: UserVerification,
}

impl RelyingParty {
    /// The relying party `id` (a domain name) for pages at `origin`, shown to users as `name`.
    /// `None` when `origin`'s host is not `id` or one of its subdomains (W3C WebAuthn §5.1.3).
    pub fn new(
        id: &str,
        origin: &Url,
        name: &str,
        user_verification: UserVerification,
    ) -> Option<Self> {
        let host = origin.domain()?;
        if host != id && !host.ends_with(&format!(".{id}")) {
            return None;
        }
        let core = WebauthnCore::new_unsafe_experts_only(
            name,
            id,
            vec![origin.clone()],
            AUTHENTICATOR_TIMEOUT,
            Some(false),
            Some(false),
        );
        Some(RelyingParty {
            core,
            user_verification,
        })
    }

    /// The configured user-verification policy.
    pub fn user_verification(&self) -> UserVerification {
        self.user_verification
    }

    /// The options of a registration for the user `handle` named `name`: a discoverable
    /// credential (WebAuthn §6.2.2, so it can sign in alone), verifying the user as the policy
    /// says, none of `exclude`. With "preferred", a discoverable credential is preferred but not
    /// required: browsers create one on a security key only behind a PIN, and a key without one
    /// then keeps a credential usable as the second factor.
    pub(crate) fn start_registration(
        &self,
        handle: &[u8],
        name: &str,
        exclude: Vec<CredentialID>,
    ) -> Result<(CreationChallengeResponse, RegistrationState), WebauthnError> {
        // CTAP 2.1 §12.1 credProtect, a hint to the authenticator (not enforced, and unsigned
        // without attestation): the credential is found without its id (a sign-in with the
        // passkey alone) only after verifying the user; with "preferred", a key without a PIN
        // still answers when the server names the credential (a second factor). What protects
        // a sign-in with a passkey alone is the server requiring verification there.
        let protection = match self.user_verification {
            UserVerification::Required => CredentialProtectionPolicy::UserVerificationRequired,
            UserVerification::Preferred => {
                CredentialProtectionPolicy::UserVerificationOptionalWithCredentialIDList
            }
        };
        let extensions = RequestRegistrationExtensions {
            cred_protect: Some(CredProtect {
                credential_protection_policy: protection,
                // Authenticators without the extension fail outright when it is enforced.
                enforce_credential_protection_policy: Some(false),
            }),
            uvm: Some(true),
            cred_props: Some(true),
            min_pin_length: None,
            hmac_create_secret: None,
        };
        let builder = self
            .core
            .new_challenge_register_builder(handle, name, name)?
            .attestation(AttestationConveyancePreference::None)
            .require_resident_key(self.user_verification == UserVerification::Required)
            .authenticator_attachment(None)
            .user_verification_policy(policy(self.user_verification))
            .reject_synchronised_authenticators(false)
            .exclude_credentials(Some(exclude))
            .hints(None)
            .extensions(Some(extensions));
        let (mut options, state) = self.core.generate_challenge_register(builder)?;
        if self.user_verification == UserVerification::Preferred
            && let Some(selection) = options.public_key.authenticator_selection.as_mut()
        {
            // The library offers only "required" or "discouraged".
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
        }
        Ok((options, state))
    }

    /// Verifies a registration response against its state: the new credential.
    pub(crate) fn finish_registration(
        &self,
        response: &RegisterPublicKeyCredential,
        state: &RegistrationState,
    ) -> Result<Credential, WebauthnError> {
        self.core.register_credential(response, state, None)
    }

    /// The options of a second factor with one of `credentials`, verifying the user as the
    /// policy says. A credential registered when verification was required (or that verified
    /// the user when it was registered) must verify the user again whatever the policy is now.
    pub(crate) fn start_second_factor(
        &self,
        credentials: Vec<Credential>,
    ) -> Result<(RequestChallengeResponse, AuthenticationState), WebauthnError> {
        let builder = self
            .core
            .new_challenge_authenticate_builder(credentials, Some(policy(self.user_verification)))?
            .allow_backup_eligible_upgrade(true)
            .hints(None);
        self.core.generate_challenge_authenticate(builder)
    }

    /// The options of a sign-in with a passkey alone: any discoverable credential, offered by
    /// the browser's autofill (conditional mediation), always verifying the user.
    pub(crate) fn start_sign_in(
        &self,
    ) -> Result<(RequestChallengeResponse, AuthenticationState), WebauthnError> {
        let builder = self
            .core
            .new_challenge_authenticate_builder(Vec::new(), Some(UserVerificationPolicy::Required))?
            .extensions(Some(RequestAuthenticationExtensions {
                appid: None,
                uvm: Some(true),
                hmac_get_secret: None,
            }))
            .allow_backup_eligible_upgrade(false)
            .hints(None);
        let (mut options, state) = self.core.generate_challenge_authenticate(builder)?;
        options.mediation = Some(Mediation::Conditional);
        Ok((options, state))
    }

    /// Verifies an authentication response against its state, which must allow the credential
    /// it names (for a sign-in, set once its owner is known).
    pub(crate) fn finish_authentication(
        &self,
        response: &PublicKeyCredential,
        state: &AuthenticationState,
    ) -> Result<AuthenticationResult, WebauthnError> {
        self.core.authenticate_credential(response, state)
    }
}

/// The library's policy for ours.
fn policy(user_verification: UserVerification) -> UserVerificationPolicy {
    match user_verification {
        UserVerification::Required => UserVerificationPolicy::Required,
        UserVerification::Preferred => UserVerificationPolicy::Preferred,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn party(user_verification: UserVerification) -> RelyingParty {
        let origin = Url::parse("https://id.example.com").expect("url");
        RelyingParty::new("id.example.com", &origin, "Example", user_verification).expect("party")
    }

    fn json<T: serde::Serialize>(value: &T) -> Value {
        serde_json::to_value(value).expect("json")
    }

    #[test]
    fn the_id_must_be_the_origins_host_or_a_parent_of_it() {
        let origin = Url::parse("https://id.example.com").expect("url");
        for id in ["id.example.com", "example.com"] {
            assert!(RelyingParty::new(id, &origin, "x", UserVerification::Required).is_some());
        }
        for id in ["other.com", "xample.com", "d.example.com"] {
            assert!(RelyingParty::new(id, &origin, "x", UserVerification::Required).is_none());
        }
        let ip = Url::parse("http://127.0.0.1:3000").expect("url");
        assert!(RelyingParty::new("127.0.0.1", &ip, "x", UserVerification::Required).is_none());
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential_verified_as_configured() {
        let required = json(
            &party(UserVerification::Required)
                .start_registration(&[7; 16], "olga", vec![])
                .expect("options")
                .0,
        );
        let selection = &required["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(required["publicKey"]["attestation"], "none");
        assert_eq!(
            required["publicKey"]["extensions"]["credentialProtectionPolicy"],
            "userVerificationRequired"
        );

        let preferred = json(
            &party(UserVerification::Preferred)
                .start_registration(&[7; 16], "olga", vec![])
                .expect("options")
                .0,
        );
        let selection = &preferred["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["userVerification"], "preferred");
        assert_eq!(selection["residentKey"], "preferred");
        assert_eq!(selection["requireResidentKey"], false);
        assert_eq!(
            preferred["publicKey"]["extensions"]["credentialProtectionPolicy"],
            "userVerificationOptionalWithCredentialIDList"
        );
    }

    #[test]
    fn a_second_factor_verifies_the_user_as_configured() {
        for (user_verification, asked) in [
            (UserVerification::Required, "required"),
            (UserVerification::Preferred, "preferred"),
        ] {
            let options = json(
                &party(user_verification)
                    .start_second_factor(Vec::new())
                    .expect("options")
                    .0,
            );
            assert_eq!(options["publicKey"]["userVerification"], asked);
            assert!(options.get("mediation").is_none());
        }
    }

    #[test]
    fn a_sign_in_with_a_passkey_alone_always_verifies_the_user() {
        for user_verification in [UserVerification::Required, UserVerification::Preferred] {
            let options = json(&party(user_verification).start_sign_in().expect("options").0);
            assert_eq!(options["publicKey"]["userVerification"], "required");
            assert_eq!(options["mediation"], "conditional");
        }
    }
}
