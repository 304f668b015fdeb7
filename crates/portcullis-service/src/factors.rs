//! Second factors of one user: setting up a one-time-code app (RFC 6238) with recovery codes,
//! checking a code at sign-in (throttled like passwords, each code good once), removing them,
//! and an administrator's reset. The HTTP pages only render what this returns.

use crate::{AuditLog, SignInThrottle, Store, StoreError};
use portcullis_core::recovery_code::{
    generate_recovery_codes, normalize_recovery_code, recovery_code_hash, recovery_code_used_email,
};
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::totp::{TotpFactorRecord, TotpSecret};
use portcullis_core::{AuditEvent, AuthMethod, Clock, User};
use portcullis_jose::KeyEncryptionKey;
use std::net::IpAddr;

/// What a sealed app secret is bound to, so a sealed value cannot be moved to another record.
fn seal_context(user_id: &str) -> String {
    format!("portcullis totp secret v1 {user_id}")
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
    /// An app is already set up: remove it first.
    #[error("An authenticator app is already set up.")]
    AlreadyEnrolled,
    /// No app is being set up (the setup expired or was never started).
    #[error("Start the setup again.")]
    NoPendingEnrollment,
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

/// An app being set up: what the setup page shows.
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    /// The secret, base32, for typing in.
    pub secret: String,
    /// The `otpauth://` URI, for the QR code.
    pub uri: String,
}

/// A user's second factors, as the account page shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorStatus {
    /// A confirmed one-time-code app.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: u64,
}

/// Where a recovery-code notice goes and what it says.
#[derive(Debug, Clone, Copy)]
pub struct RecoveryNotice<'a> {
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
        let totp = self
            .store
            .find_totp(&user.id)
            .await?
            .is_some_and(|factor| factor.confirmed_at.is_some());
        Ok(FactorStatus {
            totp,
            recovery_codes_left: self.store.unused_recovery_codes(&user.id).await?,
        })
    }

    /// Whether the user has a confirmed second factor, so sign-in asks for it.
    ///
    /// # Errors
    /// Store failures.
    pub async fn has_second_factor(&self, user: &User) -> Result<bool, StoreError> {
        Ok(self.status(user).await?.totp)
    }

    /// Starts setting up an app: a new secret, saved unconfirmed (replacing an unfinished
    /// setup).
    ///
    /// # Errors
    /// [`FactorError::AlreadyEnrolled`], or store, sealing or randomness failures.
    pub async fn begin_totp(&self, user: &User) -> Result<TotpEnrollment, FactorError> {
        let secret = TotpSecret::generate().map_err(|_| FactorError::Randomness)?;
        let sealed = self
            .sealer
            .seal(secret.as_bytes(), &seal_context(&user.id))
            .map_err(|_| FactorError::Sealing)?;
        let saved = self
            .store
            .save_pending_totp(&TotpFactorRecord {
                user_id: user.id.clone(),
                sealed_secret: sealed,
                created_at: self.clock.now(),
                confirmed_at: None,
                last_step: 0,
            })
            .await?;
        if !saved {
            return Err(FactorError::AlreadyEnrolled);
        }
        Ok(self.enrollment(user, &secret))
    }

    /// The unfinished setup, to show again after a wrong code.
    ///
    /// # Errors
    /// [`FactorError::NoPendingEnrollment`], [`FactorError::AlreadyEnrolled`], or store or
    /// sealing failures.
    pub async fn pending_totp(&self, user: &User) -> Result<TotpEnrollment, FactorError> {
        let factor = self.store.find_totp(&user.id).await?;
        match factor {
            Some(factor) if factor.confirmed_at.is_none() => {
                let secret = self.open(&factor)?;
                Ok(self.enrollment(user, &secret))
            }
            Some(_) => Err(FactorError::AlreadyEnrolled),
            None => Err(FactorError::NoPendingEnrollment),
        }
    }

    /// Finishes a setup with the first code the app shows; returns a new set of recovery codes,
    /// to be shown once.
    ///
    /// # Errors
    /// [`FactorError::WrongCode`], [`FactorError::Locked`], [`FactorError::NoPendingEnrollment`],
    /// [`FactorError::AlreadyEnrolled`], or store or sealing failures.
    pub async fn confirm_totp(
        &self,
        user: &User,
        code: &str,
        client: IpAddr,
    ) -> Result<Vec<String>, FactorError> {
        let factor = match self.store.find_totp(&user.id).await? {
            Some(factor) if factor.confirmed_at.is_none() => factor,
            Some(_) => return Err(FactorError::AlreadyEnrolled),
            None => return Err(FactorError::NoPendingEnrollment),
        };
        let keys = self.reserve(user, client).await?;
        let now = self.clock.now();
        let secret = self.open(&factor)?;
        let step = secret
            .verify(code, now, factor.last_step)
            .ok_or(FactorError::WrongCode)?;
        if !self.store.use_totp_step(&user.id, step, now).await? {
            return Err(FactorError::WrongCode);
        }
        self.throttle.succeeded(&keys, now).await?;
        self.audit.record(&AuditEvent::SecondFactorChanged {
            user_id: user.id.clone(),
            change: "totp_enrolled".to_owned(),
        });
        self.new_recovery_codes(user).await
    }

    /// Checks a code at sign-in: a current code of the user's app, or an unused recovery code
    /// (which is then used up, audited, and reported to the user by email). Returns the method
    /// it proves.
    ///
    /// # Errors
    /// [`FactorError::WrongCode`], [`FactorError::Locked`], or store or sealing failures.
    pub async fn verify(
        &self,
        user: &User,
        code: &str,
        client: IpAddr,
        notice: RecoveryNotice<'_>,
    ) -> Result<AuthMethod, FactorError> {
        let keys = self.reserve(user, client).await?;
        let now = self.clock.now();
        let factor = self
            .store
            .find_totp(&user.id)
            .await?
            .filter(|factor| factor.confirmed_at.is_some())
            .ok_or(FactorError::WrongCode)?;
        let secret = self.open(&factor)?;
        if let Some(step) = secret.verify(code, now, factor.last_step) {
            // RFC 6238 §5.2: the same code is not accepted twice (also across a race).
            if !self.store.use_totp_step(&user.id, step, now).await? {
                return Err(FactorError::WrongCode);
            }
        } else {
            let normalized = normalize_recovery_code(code).ok_or(FactorError::WrongCode)?;
            let hash = recovery_code_hash(&user.id, &normalized);
            if !self.store.use_recovery_code(&user.id, &hash, now).await? {
                return Err(FactorError::WrongCode);
            }
            self.recovery_code_used(user, notice).await?;
        }
        self.throttle.succeeded(&keys, now).await?;
        Ok(AuthMethod::OneTimeCode)
    }

    /// Replaces the user's recovery codes with a new set, shown once.
    ///
    /// # Errors
    /// Store or randomness failures.
    pub async fn regenerate_recovery_codes(&self, user: &User) -> Result<Vec<String>, FactorError> {
        let codes = self.new_recovery_codes(user).await?;
        self.audit.record(&AuditEvent::SecondFactorChanged {
            user_id: user.id.clone(),
            change: "recovery_codes_regenerated".to_owned(),
        });
        Ok(codes)
    }

    /// Removes the user's app and recovery codes; `true` if there were any.
    ///
    /// # Errors
    /// Store failures.
    pub async fn remove_all(&self, user: &User) -> Result<bool, StoreError> {
        let removed = self.store.delete_factors(&user.id).await?;
        if removed {
            self.audit.record(&AuditEvent::SecondFactorChanged {
                user_id: user.id.clone(),
                change: "totp_removed".to_owned(),
            });
        }
        Ok(removed)
    }

    async fn new_recovery_codes(&self, user: &User) -> Result<Vec<String>, FactorError> {
        let codes = generate_recovery_codes().map_err(|_| FactorError::Randomness)?;
        let hashes: Vec<Vec<u8>> = codes
            .iter()
            .filter_map(|code| normalize_recovery_code(code))
            .map(|normalized| recovery_code_hash(&user.id, &normalized))
            .collect();
        self.store
            .replace_recovery_codes(&user.id, &hashes, self.clock.now())
            .await?;
        Ok(codes)
    }

    async fn recovery_code_used(
        &self,
        user: &User,
        notice: RecoveryNotice<'_>,
    ) -> Result<(), StoreError> {
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
        Ok(())
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

    fn enrollment(&self, user: &User, secret: &TotpSecret) -> TotpEnrollment {
        TotpEnrollment {
            secret: secret.to_base32(),
            uri: secret.provisioning_uri(self.issuer_label, user.username.as_str()),
        }
    }
}
