//! Passkeys and security keys (WebAuthn Level 3, through `webauthn-rs-core`): registering them from
//! the account page, signing in with one alone (a discoverable credential, also offered by the
//! browser's autofill), and using one as the second factor after a password.
//!
//! Each ceremony's state (its challenge) travels sealed with the key-encryption key, bound to its
//! purpose and user and dated, and is accepted once: its id goes through the replay store
//! (in a cluster, Redis), so a captured response cannot be played again (W3C WebAuthn §13.4.3).

use crate::relying_party::RelyingParty;
use crate::{AuditLog, FactorNotice, ProofReplay, Store, StoreError};
use portcullis_core::factor_notice::passkey_changed_email;
use portcullis_core::passkey::{PasskeyRecord, passkey_methods, passkey_name};
use portcullis_core::replay::FirstUse;
use portcullis_core::{AuditEvent, AuthMethod, Clock, User, generate_secret};
use portcullis_jose::{KeyEncryptionKey, base64url, sha256};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use webauthn_rs_core::proto::{
    AuthenticationResult, AuthenticationState, Credential, CredentialID, PublicKeyCredential,
    RegisterPublicKeyCredential, RegistrationState,
};

/// How long a ceremony may take, from the options to the response.
const CEREMONY_LIFETIME_SECS: i64 = 5 * 60;
/// Passkeys one user may register (the second factor's options list them all).
pub const MAX_PASSKEYS: usize = 20;
/// Longest credential id accepted (W3C WebAuthn §7.1 step 25: at most 1023 bytes).
const MAX_CREDENTIAL_ID: usize = 1023;

/// Why a passkey operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The response does not verify, or names a credential that is not (the user's) registered.
    #[error("The passkey could not be verified.")]
    Refused,
    /// The ceremony is too old, another user's, or was used already.
    #[error("That took too long or was already used. Try again.")]
    Expired,
    /// The user has no passkey to ask for.
    #[error("No passkey is registered.")]
    NoPasskeys,
    /// The name is empty, too long, or has control characters.
    #[error("Give the passkey a name of at most 64 characters.")]
    InvalidName,
    /// That credential is registered already.
    #[error("This passkey is registered already.")]
    AlreadyRegistered,
    /// The user has as many passkeys as allowed.
    #[error("You have 20 passkeys already: remove one first.")]
    TooMany,
    /// The WebAuthn library or the sealing failed on our side.
    #[error("passkey ceremony: {0}")]
    Internal(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The options for the browser (`navigator.credentials.create` or `.get`, as JSON) and the sealed
/// state the response must come back with.
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyCeremony {
    /// `CredentialCreationOptions` or `CredentialRequestOptions`, JSON-encoded.
    pub options: Value,
    /// The sealed ceremony state.
    pub state: String,
}

/// A credential as stored: the library's, in the envelope `webauthn-rs`'s `Passkey` gives it
/// (passkeys registered before Portcullis called `webauthn-rs-core` directly are stored so).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCredential {
    cred: Credential,
}

/// A ceremony's state as sealed: its purpose, its user, when it began and a single-use id.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed<T> {
    id: String,
    user_id: Option<String>,
    issued_at: i64,
    state: T,
}

/// The passkeys of users, borrowed from the server's state for one request.
pub struct Passkeys<'a> {
    /// Users and passkeys.
    pub store: &'a dyn Store,
    /// The relying party (its id and origin come from the issuer).
    pub relying_party: &'a RelyingParty,
    /// Seals ceremony states.
    pub sealer: &'a KeyEncryptionKey,
    /// Where ceremony ids are remembered, so each is used once.
    pub ceremonies: &'a dyn ProofReplay,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
}

/// The WebAuthn user handle of `user`: the bytes of its id when that is a UUID (as Portcullis
/// makes them), else 16 bytes derived from it.
fn user_handle(user_id: &str) -> [u8; 16] {
    uuid::Uuid::parse_str(user_id).map_or_else(
        |_| {
            let digest = sha256(user_id.as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            bytes
        },
        |id| id.into_bytes(),
    )
}

impl Passkeys<'_> {
    /// The user's passkeys, oldest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list(&self, user: &User) -> Result<Vec<PasskeyRecord>, StoreError> {
        self.store.passkeys_of_user(&user.id).await
    }

    /// Starts registering a passkey for `user`: discoverable (it can sign in without a
    /// username), verifying the user as configured, none of the user's registered ones again.
    ///
    /// # Errors
    /// Store or library failures.
    pub async fn begin_registration(&self, user: &User) -> Result<PasskeyCeremony, PasskeyError> {
        let registered = self.list(user).await?;
        if registered.len() >= MAX_PASSKEYS {
            return Err(PasskeyError::TooMany);
        }
        let exclude: Vec<CredentialID> = registered
            .into_iter()
            .map(|passkey| CredentialID::from(passkey.credential_id))
            .collect();
        let (options, state) = self
            .relying_party
            .start_registration(&user_handle(&user.id), user.username.as_str(), exclude)
            .map_err(|_| PasskeyError::Internal("registration options"))?;
        self.ceremony(&options, "registration", Some(&user.id), &state)
    }

    /// Finishes a registration: the response is verified against the sealed state and the
    /// passkey stored under `name`.
    ///
    /// # Errors
    /// [`PasskeyError::InvalidName`], [`PasskeyError::Expired`], [`PasskeyError::Refused`],
    /// [`PasskeyError::AlreadyRegistered`], or store failures.
    pub async fn finish_registration(
        &self,
        user: &User,
        state: &str,
        response: &Value,
        name: &str,
        notice: FactorNotice<'_>,
    ) -> Result<PasskeyRecord, PasskeyError> {
        let name = passkey_name(name).ok_or(PasskeyError::InvalidName)?;
        let (registration, ceremony): (RegistrationState, _) =
            self.open(state, "registration", Some(&user.id))?;
        let response: RegisterPublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| PasskeyError::Refused)?;
        let credential = self
            .relying_party
            .finish_registration(&response, &registration)
            .map_err(|_| PasskeyError::Refused)?;
        if credential.cred_id.len() > MAX_CREDENTIAL_ID {
            return Err(PasskeyError::Refused);
        }
        self.spend(&ceremony).await?;
        let record = PasskeyRecord {
            credential_id: credential.cred_id.to_vec(),
            user_id: user.id.clone(),
            name,
            backup_eligible: credential.backup_eligible,
            backed_up: credential.backup_state,
            credential: encoded(credential)?,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        match self.store.add_passkey(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(PasskeyError::AlreadyRegistered),
            Err(error) => return Err(error.into()),
        }
        self.audit.record(&AuditEvent::SecondFactorChanged {
            user_id: user.id.clone(),
            change: "passkey_added".to_owned(),
        });
        self.tell(user, notice, &record.name, true).await?;
        Ok(record)
    }

    /// Starts a sign-in with a passkey alone: any of the site's discoverable credentials the
    /// browser offers (also through autofill, conditional mediation).
    ///
    /// # Errors
    /// Library or sealing failures.
    pub fn begin_sign_in(&self) -> Result<PasskeyCeremony, PasskeyError> {
        let (options, state) = self
            .relying_party
            .start_sign_in()
            .map_err(|_| PasskeyError::Internal("sign-in options"))?;
        self.ceremony(&options, "sign-in", None, &state)
    }

    /// Finishes a sign-in with a passkey alone: the user it belongs to (enabled) and the methods
    /// it proved.
    ///
    /// # Errors
    /// [`PasskeyError::Expired`], [`PasskeyError::Refused`], or store failures.
    pub async fn finish_sign_in(
        &self,
        state: &str,
        response: &Value,
    ) -> Result<(User, Vec<AuthMethod>), PasskeyError> {
        let (mut authentication, ceremony): (AuthenticationState, _) =
            self.open(state, "sign-in", None)?;
        let response: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| PasskeyError::Refused)?;
        let handle = response.get_user_unique_id().ok_or(PasskeyError::Refused)?;
        let record = self
            .store
            .find_passkey(response.get_credential_id())
            .await?
            .ok_or(PasskeyError::Refused)?;
        let user = self
            .store
            .find_user_by_id(&record.user_id)
            .await?
            .filter(|user| user.disabled_at.is_none())
            // W3C WebAuthn §7.2 step 6: the authenticator's user handle must be the owner's.
            .filter(|user| user_handle(&user.id).as_slice() == handle)
            .ok_or(PasskeyError::Refused)?;
        let credential = stored(&record)?;
        authentication.set_allowed_credentials(vec![credential.clone()]);
        let result = self
            .relying_party
            .finish_authentication(&response, &authentication)
            .map_err(|_| PasskeyError::Refused)?;
        self.spend(&ceremony).await?;
        self.record_use(&record, credential, &result).await?;
        Ok((user, passkey_methods(result.user_verified())))
    }

    /// Starts using one of `user`'s passkeys as the second factor.
    ///
    /// # Errors
    /// [`PasskeyError::NoPasskeys`], or store or library failures.
    pub async fn begin_second_factor(&self, user: &User) -> Result<PasskeyCeremony, PasskeyError> {
        let passkeys = self
            .list(user)
            .await?
            .iter()
            .map(stored)
            .collect::<Result<Vec<_>, _>>()?;
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let (options, state) = self
            .relying_party
            .start_second_factor(passkeys)
            .map_err(|_| PasskeyError::Internal("authentication options"))?;
        self.ceremony(&options, "second-factor", Some(&user.id), &state)
    }

    /// Finishes using one of `user`'s passkeys as the second factor: the methods it proved.
    ///
    /// # Errors
    /// [`PasskeyError::Expired`], [`PasskeyError::Refused`], or store failures.
    pub async fn finish_second_factor(
        &self,
        user: &User,
        state: &str,
        response: &Value,
    ) -> Result<Vec<AuthMethod>, PasskeyError> {
        let (authentication, ceremony): (AuthenticationState, _) =
            self.open(state, "second-factor", Some(&user.id))?;
        let response: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|_| PasskeyError::Refused)?;
        let record = self
            .store
            .find_passkey(response.get_credential_id())
            .await?
            .filter(|record| record.user_id == user.id)
            .ok_or(PasskeyError::Refused)?;
        let credential = stored(&record)?;
        let result = self
            .relying_party
            .finish_authentication(&response, &authentication)
            .map_err(|_| PasskeyError::Refused)?;
        self.spend(&ceremony).await?;
        self.record_use(&record, credential, &result).await?;
        Ok(passkey_methods(result.user_verified()))
    }

    /// Removes one of the user's passkeys; `true` if it was theirs.
    ///
    /// # Errors
    /// Store failures.
    pub async fn remove(
        &self,
        user: &User,
        credential_id: &[u8],
        notice: FactorNotice<'_>,
    ) -> Result<bool, StoreError> {
        let name = self
            .store
            .find_passkey(credential_id)
            .await?
            .filter(|passkey| passkey.user_id == user.id)
            .map(|passkey| passkey.name);
        let removed = self.store.delete_passkey(&user.id, credential_id).await?;
        if removed {
            self.audit.record(&AuditEvent::SecondFactorChanged {
                user_id: user.id.clone(),
                change: "passkey_removed".to_owned(),
            });
            self.tell(user, notice, name.as_deref().unwrap_or("a passkey"), false)
                .await?;
        }
        Ok(removed)
    }

    /// Tells the user by email that a passkey was added or removed, so an owner who did not do
    /// it knows at once.
    async fn tell(
        &self,
        user: &User,
        notice: FactorNotice<'_>,
        name: &str,
        added: bool,
    ) -> Result<(), StoreError> {
        if let (Some(address), true) = (&user.email, notice.email_enabled) {
            let email = passkey_changed_email(
                notice.product_name,
                address,
                name,
                added,
                notice.account_page,
            );
            self.store.enqueue_email(&email, self.clock.now()).await?;
        }
        Ok(())
    }

    /// Stores what a use changed: the signature counter and the backup state. A counter that did
    /// not grow on an authenticator that keeps one means a cloned credential (WebAuthn §7.2 step
    /// 22): refused.
    async fn record_use(
        &self,
        record: &PasskeyRecord,
        mut credential: Credential,
        result: &AuthenticationResult,
    ) -> Result<(), PasskeyError> {
        if result.counter() != 0 && result.counter() <= credential.counter {
            return Err(PasskeyError::Refused);
        }
        credential.counter = credential.counter.max(result.counter());
        credential.backup_state = result.backup_state();
        // A credential may become eligible for backup (an upgraded platform), never lose it.
        credential.backup_eligible |= result.backup_eligible();
        self.store
            .record_passkey_use(
                &record.credential_id,
                &encoded(credential)?,
                result.backup_state(),
                self.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// The options as JSON and the sealed state of a new ceremony.
    fn ceremony<O: Serialize, S: Serialize>(
        &self,
        options: &O,
        purpose: &str,
        user_id: Option<&str>,
        state: &S,
    ) -> Result<PasskeyCeremony, PasskeyError> {
        let sealed = Sealed {
            id: generate_secret(16).map_err(|_| PasskeyError::Internal("random generator"))?,
            user_id: user_id.map(str::to_owned),
            issued_at: self.clock.now(),
            state,
        };
        let plain =
            serde_json::to_vec(&sealed).map_err(|_| PasskeyError::Internal("state encoding"))?;
        let state = self
            .sealer
            .seal(&plain, &context(purpose))
            .map_err(|_| PasskeyError::Internal("sealing"))?;
        Ok(PasskeyCeremony {
            options: serde_json::to_value(options)
                .map_err(|_| PasskeyError::Internal("options encoding"))?,
            state: base64url::encode(state),
        })
    }

    /// The state of a ceremony for `purpose` and `user_id`, if it is genuine and recent, with
    /// what [`Passkeys::spend`] needs once the response verified.
    fn open<S: DeserializeOwned>(
        &self,
        state: &str,
        purpose: &str,
        user_id: Option<&str>,
    ) -> Result<(S, Spent), PasskeyError> {
        let plain = base64url::decode(state)
            .and_then(|sealed| self.sealer.open(&sealed, &context(purpose)).ok())
            .ok_or(PasskeyError::Expired)?;
        let sealed: Sealed<S> =
            serde_json::from_slice(&plain).map_err(|_| PasskeyError::Expired)?;
        let age = self.clock.now() - sealed.issued_at;
        if sealed.user_id.as_deref() != user_id || !(0..CEREMONY_LIFETIME_SECS).contains(&age) {
            return Err(PasskeyError::Expired);
        }
        let spent = Spent {
            key: format!("passkey-ceremony:{}", sealed.id),
            until: sealed.issued_at + CEREMONY_LIFETIME_SECS,
        };
        Ok((sealed.state, spent))
    }

    /// Uses up a ceremony whose response verified: a second use (a replayed response) is
    /// refused. Only verified ceremonies are remembered, so junk responses cannot fill the
    /// memory that `private_key_jwt` assertions share.
    async fn spend(&self, ceremony: &Spent) -> Result<(), PasskeyError> {
        spend_once(self.ceremonies, ceremony, self.clock.now()).await
    }
}

/// Remembers `ceremony` in `ceremonies` at `now`; [`PasskeyError::Expired`] if it was before.
async fn spend_once(
    ceremonies: &dyn ProofReplay,
    ceremony: &Spent,
    now: i64,
) -> Result<(), PasskeyError> {
    match ceremonies
        .first_use(&ceremony.key, ceremony.until, now)
        .await
    {
        FirstUse::Yes => Ok(()),
        FirstUse::Replayed | FirstUse::Full => Err(PasskeyError::Expired),
    }
}

/// A verified ceremony's id in the replay memory, and until when it is kept.
struct Spent {
    key: String,
    until: i64,
}

/// What a ceremony's sealed state is bound to.
fn context(purpose: &str) -> String {
    // v2: the library's own ceremony states (v1 sealed `webauthn-rs`'s wrappers of them).
    format!("portcullis passkey {purpose} v2")
}

/// The library's credential of a stored record.
fn stored(record: &PasskeyRecord) -> Result<Credential, PasskeyError> {
    serde_json::from_str::<StoredCredential>(&record.credential)
        .map(|stored| stored.cred)
        .map_err(|_| PasskeyError::Internal("stored passkey"))
}

/// A credential as stored.
fn encoded(cred: Credential) -> Result<String, PasskeyError> {
    serde_json::to_string(&StoredCredential { cred })
        .map_err(|_| PasskeyError::Internal("passkey serialization"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_verified_ceremony_is_good_once() {
        let memory = portcullis_core::replay::ReplayWindow::new(10);
        let ceremony = Spent {
            key: "passkey-ceremony:c1".into(),
            until: 400,
        };
        assert!(spend_once(&memory, &ceremony, 100).await.is_ok());
        assert!(matches!(
            spend_once(&memory, &ceremony, 101).await,
            Err(PasskeyError::Expired)
        ));
        let other = Spent {
            key: "passkey-ceremony:c2".into(),
            until: 400,
        };
        assert!(spend_once(&memory, &other, 101).await.is_ok());
    }

    #[test]
    fn user_handles_are_the_uuid_or_derived_from_the_id() {
        let id = "0b7f7b5e-4f3a-4c59-9a59-4f3f2a6b9c11";
        assert_eq!(
            user_handle(id),
            *uuid::Uuid::parse_str(id).expect("uuid").as_bytes()
        );
        assert_eq!(user_handle("legacy-id"), user_handle("legacy-id"));
        assert_ne!(user_handle("legacy-id"), user_handle("other-id"));
    }
}
