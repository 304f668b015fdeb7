//! Checking a username and password, for the sign-in page and `POST /login`.
//!
//! * Unknown users and wrong passwords fail the same way, and an unknown user still costs one
//!   Argon2 verification against a dummy hash, so neither the message nor the timing reveals who
//!   has an account.
//! * Attempts are throttled per account and per network ([`portcullis_core::throttle`]): each is
//!   reserved atomically before the password is checked, so concurrent guesses cannot slip past
//!   the limit, and the counters are shared by the cluster when it has Redis.
//! * Argon2 runs on the blocking pool behind a semaphore sized to the CPU count, so a flood of
//!   sign-ins cannot starve the token endpoint of threads.

use crate::{SignInThrottle, Store, StoreError};
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::{PasswordError, PasswordHasher, PasswordPolicy, UnixSeconds, User};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// Why a sign-in failed. The user only ever sees one generic message.
#[derive(Debug)]
pub enum SignInFailure {
    /// Wrong username or password, or a disabled user.
    InvalidCredentials(&'static str),
    /// Too many failures for this username or address.
    Locked,
    /// The store failed.
    Store(StoreError),
}

/// Verifies credentials with throttling.
pub struct CredentialVerifier {
    hasher: PasswordHasher,
    dummy_hash: String,
    argon2_permits: Arc<Semaphore>,
    verifications: AtomicU64,
}

/// One sign-in attempt.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The username as typed.
    pub username: &'a str,
    /// The password as typed.
    pub password: &'a str,
    /// The client's address (behind trusted proxies, the one they name).
    pub client: IpAddr,
    /// When.
    pub now: UnixSeconds,
}

impl std::fmt::Debug for CredentialVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialVerifier")
    }
}

impl CredentialVerifier {
    /// A verifier with the given Argon2 parameters (also those of the dummy hash).
    ///
    /// # Errors
    /// Invalid Argon2 parameters.
    pub fn new(policy: PasswordPolicy) -> Result<Self, PasswordError> {
        let hasher = PasswordHasher::new(policy)?;
        let mut random = [0u8; 24];
        portcullis_jose::random_bytes(&mut random).map_err(|_| PasswordError::HashingFailed)?;
        let dummy_hash = hasher.hash(&portcullis_jose::base64url::encode(random))?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(CredentialVerifier {
            hasher,
            dummy_hash,
            argon2_permits: Arc::new(Semaphore::new(cores)),
            verifications: AtomicU64::new(0),
        })
    }

    /// Checks an attempt, counting it on `throttle`: reserved before the password is checked (a
    /// locked account is refused without a check), given back on success.
    ///
    /// # Errors
    /// [`SignInFailure`].
    pub async fn verify(
        &self,
        store: &dyn Store,
        throttle: &dyn SignInThrottle,
        attempt: Attempt<'_>,
    ) -> Result<User, SignInFailure> {
        let keys = AttemptKeys::new(attempt.username, attempt.client);
        reserve(throttle, &keys, attempt.now).await?;
        let user = store
            .find_user_by_username(attempt.username)
            .await
            .map_err(SignInFailure::Store)?;
        let stored_hash = user
            .as_ref()
            .map_or(self.dummy_hash.clone(), |user| user.password_hash.clone());
        let matches = self.check_password(attempt.password, stored_hash).await;
        match user {
            Some(user) if matches && user.disabled_at.is_none() => {
                throttle
                    .succeeded(&keys, attempt.now)
                    .await
                    .map_err(SignInFailure::Store)?;
                Ok(user)
            }
            None => Err(SignInFailure::InvalidCredentials("unknown user")),
            Some(user) if user.disabled_at.is_some() => {
                Err(SignInFailure::InvalidCredentials("user disabled"))
            }
            Some(_) => Err(SignInFailure::InvalidCredentials("wrong password")),
        }
    }

    /// Checks an attempt against `stored_hash` (the password chosen for a registration waiting
    /// for its address) as a sign-in of `attempt.username` would be: reserved first on the same
    /// counters, given back on success.
    ///
    /// # Errors
    /// [`SignInFailure`].
    pub async fn verify_against(
        &self,
        throttle: &dyn SignInThrottle,
        attempt: Attempt<'_>,
        stored_hash: String,
    ) -> Result<(), SignInFailure> {
        let keys = AttemptKeys::new(attempt.username, attempt.client);
        reserve(throttle, &keys, attempt.now).await?;
        if !self.check_password(attempt.password, stored_hash).await {
            return Err(SignInFailure::InvalidCredentials("wrong password"));
        }
        throttle
            .succeeded(&keys, attempt.now)
            .await
            .map_err(SignInFailure::Store)
    }

    /// The hasher of new passwords, with the same parameters.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Argon2 verifications run so far, real or against the dummy hash: every sign-in attempt
    /// that passes the throttle costs exactly one, whoever the username names.
    pub fn password_verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn check_password(&self, password: &str, stored_hash: String) -> bool {
        let Ok(_permit) = self.argon2_permits.clone().acquire_owned().await else {
            return false;
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hasher.verify(&password, &stored_hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
    }
}

/// Reserves an attempt on `keys`: refused while locked, after the delay otherwise.
async fn reserve(
    throttle: &dyn SignInThrottle,
    keys: &AttemptKeys,
    now: UnixSeconds,
) -> Result<(), SignInFailure> {
    match throttle
        .reserve(keys, now)
        .await
        .map_err(SignInFailure::Store)?
    {
        ThrottleDecision::Locked(_) => Err(SignInFailure::Locked),
        ThrottleDecision::Allow(delay) => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(())
        }
    }
}
