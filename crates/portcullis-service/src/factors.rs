//! Second factors of one user: setting up a one-time-code app (RFC 6238) with recovery codes,
//! checking a code at sign-in (throttled like passwords, each code good once, and refused for
//! good after too many wrong ones in a row), removing them, and an administrator's reset. The
//! HTTP pages only render what this returns.
//!
//! A setup is carried by the page that shows it: the new secret travels sealed in the form (bound
//! to the user and dated), and nothing is stored until its first code confirms it. Another
//! request, even one with the user's password, can neither read nor replace a setup under way.

use crate::{AuditLog, SignInThrottle, Store, StoreError};
use portcullis_core::factor_notice::{recovery_code_used_email, two_step_changed_email};
use portcullis_core::recovery_code::{
    generate_recovery_codes, normalize_recovery_code, recovery_code_hash,
};
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::totp::{FAILURE_LIMIT, TotpFactorRecord, TotpSecret};
use portcullis_core::{AuditEvent, AuthMethod, Clock, User};
use portcullis_jose::{KeyEncryptionKey, MacKey, base64url};
use std::fmt;
use std::net::IpAddr;

/// How long a setup page's form stays good.
const SETUP_LIFETIME_SECS: i64 = 15 * 60;

/// What a stored app secret is bound to, so a sealed value cannot be moved to another record.
fn seal_context(user_id: &str) -> String {
    format!("portcullis totp secret v1 {user_id}")
}

/// What a setup form's sealed secret is bound to: the user, and its purpose.
fn setup_context(user_id: &str) -> String {
    format!("portcullis totp setup v1 {user_id}")
}

/// Why a second-factor operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    /// The code is not a current, unused code of the user's app nor an unused recovery code.
    #[error("That code is not valid. Enter the current code from your app, or a recovery code.")]
    WrongCode,
    /// Too many wrong codes: wait.
    #[error("Too many wrong codes. Please wait a while and try again.")]
    Locked,
    /// Too many wrong codes in a row: the factors stay refused until an administrator resets them.
    #[error("Too many wrong codes. Ask an administrator to reset your two-step verification.")]
    Blocked,
    /// An app is already set up: remove it first.
    #[error("An authenticator app is already set up.")]
    AlreadyEnrolled,
    /// The setup form is not this user's, or is too old.
    #[error("The setup expired. Start it again.")]
    SetupExpired,
    /// The stored secret cannot be opened (wrong key-encryption key, or corrupted).
    #[error("the stored one-time-code secret cannot be opened")]
    Sealing,
    /// No randomness.
    #[error("cannot generate a secret")]
    Randomness,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An app being set up: what the setup page shows, and the sealed form field that carries it to
/// the confirmation. `Debug` shows none of it.
#[derive(Clone)]
pub struct TotpEnrollment {
    /// The secret, base32, for typing in.
    pub secret: String,
    /// The `otpauth://` URI, for the QR code.
    pub uri: String,
    /// The secret sealed for this user with the time of the setup: the form's hidden field.
    pub setup: String,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("TotpEnrollment(<redacted>)")
    }
}

/// A user's second factors, as the account page shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorStatus {
    /// A confirmed one-time-code app.
    pub totp: bool,
    /// Registered passkeys and security keys.
    pub passkeys: usize,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
}

/// What the notices to the user (a recovery code used, two-step verification turned on or off)
/// say, and whether they can be sent.
#[derive(Debug, Clone, Copy)]
pub struct FactorNotice<'a> {
    /// The product name signing it.
    pub product_name: &'a str,
    /// The account page linked from it.
    pub account_page: &'a str,
    /// Whether email is configured (no notice is queued without it).
    pub email_enabled: bool,
}

/// The second factors of one user, borrowed from the server's state for one request.
pub struct SecondFactors<'a> {
    /// Factors, users and the outbox.
    pub store: &'a dyn Store,
    /// Seals app secrets at rest.
    pub sealer: &'a KeyEncryptionKey,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Counts wrong codes, like wrong passwords.
    pub throttle: &'a dyn SignInThrottle,
    /// The issuer name shown in authenticator apps.
    pub issuer_label: &'a str,
}

impl SecondFactors<'_> {
    /// What the user has set up.
    ///
    /// # Errors
    /// Store failures.
    pub async fn status(&self, user: &User) -> Result<FactorStatus, StoreError> {
        Ok(FactorStatus {
            totp: self.store.find_totp(&user.id).await?.is_some(),
            passkeys: self.store.passkeys_of_user(&user.id).await?.len(),
            recovery_codes_left: self.store.unused_recovery_codes(&user.id).await?,
        })
    }

    /// Whether the user has a second factor (an app or a passkey), so sign-in asks for it.
    ///
    /// # Errors
    /// Store failures.
    pub async fn has_second_factor(&self, user: &User) -> Result<bool, StoreError> {
        let status = self.status(user).await?;
        Ok(status.totp || status.passkeys > 0)
    }

    /// Starts setting up an app: a new secret for the page, stored nowhere yet.
    ///
    /// # Errors
    /// [`FactorError::AlreadyEnrolled`], or store, sealing or randomness failures.
    pub async fn begin_totp(&self, user: &User) -> Result<TotpEnrollment, FactorError> {
        if self.store.find_totp(&user.id).await?.is_some() {
            return Err(FactorError::AlreadyEnrolled);
        }
        let secret = TotpSecret::generate().map_err(|_| FactorError::Randomness)?;
        let mut plain = self.clock.now().to_be_bytes().to_vec();
        plain.extend_from_slice(secret.as_bytes());
        let sealed = self
            .sealer
            .seal(&plain, &setup_context(&user.id))
            .map_err(|_| FactorError::Sealing)?;
        Ok(self.enrollment(user, &secret, base64url::encode(sealed)))
    }

    /// The setup a form carries (`setup`, its hidden field), to show again after a wrong code.
    ///
    /// # Errors
    /// [`FactorError::SetupExpired`].
    pub fn reopen_totp(&self, user: &User, setup: &str) -> Result<TotpEnrollment, FactorError> {
        let secret = self.open_setup(user, setup)?;
        Ok(self.enrollment(user, &secret, setup.to_owned()))
    }

    /// Finishes the setup a form carries with the first code the app shows: the app is stored,
    /// the user told, and a new set of recovery codes returned, to be shown once.
    ///
    /// # Errors
    /// [`FactorError::WrongCode`], [`FactorError::Locked`], [`FactorError::SetupExpired`],
    /// [`FactorError::AlreadyEnrolled`], or store, sealing or randomness failures.
    pub async fn confirm_totp(
        &self,
        user: &User,
        setup: &str,
        code: &str,
        client: IpAddr,
        notice: FactorNotice<'_>,
    ) -> Result<Vec<String>, FactorError> {
        let secret = self.open_setup(user, setup)?;
        if self.store.find_totp(&user.id).await?.is_some() {
            return Err(FactorError::AlreadyEnrolled);
        }
        let keys = self.reserve(user, client).await?;
        let now = self.clock.now();
        let step = secret.verify(code, now, 0).ok_or(FactorError::WrongCode)?;
        let sealed = self
            .sealer
            .seal(secret.as_bytes(), &seal_context(&user.id))
            .map_err(|_| FactorError::Sealing)?;
        let added = self
            .store
            .add_totp(&TotpFactorRecord {
                user_id: user.id.clone(),
                sealed_secret: sealed,
                confirmed_at: now,
                // The code just used is spent (RFC 6238 §5.2).
                last_step: step,
                failures: 0,
            })
            .await?;
        if !added {
            return Err(FactorError::AlreadyEnrolled);
        }
        self.throttle.succeeded(&keys, now).await?;
        self.audit.record(&AuditEvent::SecondFactorChanged {
            user_id: user.id.clone(),
            change: "totp_enrolled".to_owned(),
        });
        self.tell(user, notice, true).await?;
        self.new_recovery_codes(user).await
    }

    /// Checks a code at sign-in: a current code of the user's app, or an unused recovery code
    /// (which is then used up, audited, and reported to the user by email). Returns the method
    /// it proves.
    ///
    /// # Errors
    /// [`FactorError::WrongCode`], [`FactorError::Locked`], [`FactorError::Blocked`], or store
    /// or sealing failures.
    pub async fn verify(
        &self,
        user: &User,
        code: &str,
        client: IpAddr,
        notice: FactorNotice<'_>,
    ) -> Result<AuthMethod, FactorError> {
        let keys = self.reserve(user, client).await?;
        let now = self.clock.now();
        let factor = self
            .store
            .find_totp(&user.id)
            .await?
            .ok_or(FactorError::WrongCode)?;
        if factor.failures >= FAILURE_LIMIT {
            return Err(FactorError::Blocked);
        }
        let secret = self.open(&factor)?;
        let proven = match secret.verify(code, now, factor.last_step) {
            // RFC 6238 §5.2: the same code is not accepted twice (also across a race).
            Some(step) => self.store.use_totp_step(&user.id, step).await?,
            None => self.use_recovery_code(user, code, notice).await?,
        };
        if !proven {
            let failures = self.store.count_factor_failure(&user.id).await?;
            return Err(if failures >= FAILURE_LIMIT {
                FactorError::Blocked
            } else {
                FactorError::WrongCode
            });
        }
        self.throttle.succeeded(&keys, now).await?;
        Ok(AuthMethod::OneTimeCode)
    }

    /// Replaces the user's recovery codes with a new set, shown once.
    ///
    /// # Errors
    /// Store, sealing or randomness failures.
    pub async fn regenerate_recovery_codes(&self, user: &User) -> Result<Vec<String>, FactorError> {
        let codes = self.new_recovery_codes(user).await?;
        self.audit.record(&AuditEvent::SecondFactorChanged {
            user_id: user.id.clone(),
            change: "recovery_codes_regenerated".to_owned(),
        });
        Ok(codes)
    }

    /// Removes the user's app and recovery codes and tells the user; `true` if there were any.
    ///
    /// # Errors
    /// Store failures.
    pub async fn remove_all(
        &self,
        user: &User,
        notice: FactorNotice<'_>,
    ) -> Result<bool, StoreError> {
        let removed = self.store.delete_factors(&user.id).await?;
        if removed {
            self.audit.record(&AuditEvent::SecondFactorChanged {
                user_id: user.id.clone(),
                change: "totp_removed".to_owned(),
            });
            self.tell(user, notice, false).await?;
        }
        Ok(removed)
    }

    /// Uses up the recovery code `code` of the user, if it is one: audited and reported.
    async fn use_recovery_code(
        &self,
        user: &User,
        code: &str,
        notice: FactorNotice<'_>,
    ) -> Result<bool, FactorError> {
        let Some(normalized) = normalize_recovery_code(code) else {
            return Ok(false);
        };
        let hash = recovery_code_hash(&self.recovery_key()?, &user.id, &normalized);
        if !self
            .store
            .use_recovery_code(&user.id, &hash, self.clock.now())
            .await?
        {
            return Ok(false);
        }
        self.store.clear_factor_failures(&user.id).await?;
        let remaining = self.store.unused_recovery_codes(&user.id).await?;
        self.audit.record(&AuditEvent::RecoveryCodeUsed {
            user_id: user.id.clone(),
            remaining,
        });
        if let (Some(address), true) = (&user.email, notice.email_enabled) {
            let email = recovery_code_used_email(
                notice.product_name,
                address,
                remaining,
                notice.account_page,
            );
            self.store.enqueue_email(&email, self.clock.now()).await?;
        }
        Ok(true)
    }

    /// Tells the user by email that two-step verification was turned on or off, so an owner who
    /// did not do it knows at once.
    async fn tell(
        &self,
        user: &User,
        notice: FactorNotice<'_>,
        on: bool,
    ) -> Result<(), StoreError> {
        if let (Some(address), true) = (&user.email, notice.email_enabled) {
            let email =
                two_step_changed_email(notice.product_name, address, on, notice.account_page);
            self.store.enqueue_email(&email, self.clock.now()).await?;
        }
        Ok(())
    }

    async fn new_recovery_codes(&self, user: &User) -> Result<Vec<String>, FactorError> {
        let codes = generate_recovery_codes().map_err(|_| FactorError::Randomness)?;
        let key = self.recovery_key()?;
        let hashes: Vec<Vec<u8>> = codes
            .iter()
            .filter_map(|code| normalize_recovery_code(code))
            .map(|normalized| recovery_code_hash(&key, &user.id, &normalized))
            .collect();
        self.store
            .replace_recovery_codes(&user.id, &hashes, self.clock.now())
            .await?;
        Ok(codes)
    }

    /// The key recovery codes are hashed with, derived from the key-encryption key.
    fn recovery_key(&self) -> Result<MacKey, FactorError> {
        self.sealer
            .derive_mac_key("portcullis recovery codes v1")
            .map_err(|_| FactorError::Sealing)
    }

    /// Counts a code attempt on the user and network like a password attempt.
    async fn reserve(&self, user: &User, client: IpAddr) -> Result<AttemptKeys, FactorError> {
        let keys = AttemptKeys::for_purpose("second-factor", &user.id, client);
        match self.throttle.reserve(&keys, self.clock.now()).await? {
            ThrottleDecision::Locked(_) => Err(FactorError::Locked),
            ThrottleDecision::Allow(delay) => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok(keys)
            }
        }
    }

    fn open(&self, factor: &TotpFactorRecord) -> Result<TotpSecret, FactorError> {
        self.sealer
            .open(&factor.sealed_secret, &seal_context(&factor.user_id))
            .map(TotpSecret::from_bytes)
            .map_err(|_| FactorError::Sealing)
    }

    /// The secret a setup form carries, if it was sealed for this user and is recent.
    fn open_setup(&self, user: &User, setup: &str) -> Result<TotpSecret, FactorError> {
        let plain = base64url::decode(setup)
            .and_then(|sealed| self.sealer.open(&sealed, &setup_context(&user.id)).ok())
            .ok_or(FactorError::SetupExpired)?;
        let (time, secret) = plain.split_at_checked(8).ok_or(FactorError::SetupExpired)?;
        let created_at =
            i64::from_be_bytes(time.try_into().map_err(|_| FactorError::SetupExpired)?);
        let age = self.clock.now() - created_at;
        if !(0..SETUP_LIFETIME_SECS).contains(&age) {
            return Err(FactorError::SetupExpired);
        }
        Ok(TotpSecret::from_bytes(secret.to_vec()))
    }

    fn enrollment(&self, user: &User, secret: &TotpSecret, setup: String) -> TotpEnrollment {
        TotpEnrollment {
            secret: secret.to_base32(),
            uri: secret.provisioning_uri(self.issuer_label, user.username.as_str()),
            setup,
        }
    }
}
