//! Checking a username and password, for the sign-in page and `POST /login`.
//!
//! * Unknown users and wrong passwords fail the same way, and an unknown user still costs one
//!   Argon2 verification against a dummy hash, so neither the message nor the timing reveals who
//!   has an account.
//! * Failures are throttled per username and per client IP (increasing delay, then a lock).
//! * Argon2 runs on the blocking pool behind a semaphore sized to the CPU count, so a flood of
//!   sign-ins cannot starve the token endpoint of threads.

use portcullis_core::throttle::{LoginThrottle, ThrottleDecision, ThrottlePolicy};
use portcullis_core::{PasswordError, PasswordHasher, PasswordPolicy, UnixSeconds, User};
use portcullis_store::{Store, StoreError};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    throttle: Mutex<LoginThrottle>,
    argon2_permits: Arc<Semaphore>,
    verifications: AtomicU64,
}

impl std::fmt::Debug for CredentialVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialVerifier")
    }
}

impl CredentialVerifier {
    /// A verifier with the given Argon2 parameters (for the dummy hash) and throttling policy.
    ///
    /// # Errors
    /// Invalid Argon2 parameters.
    pub fn new(policy: PasswordPolicy, throttle: ThrottlePolicy) -> Result<Self, PasswordError> {
        let hasher = PasswordHasher::new(policy)?;
        let mut random = [0u8; 24];
        portcullis_jose::random_bytes(&mut random).map_err(|_| PasswordError::HashingFailed)?;
        let dummy_hash = hasher.hash(&portcullis_jose::base64url::encode(random))?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(CredentialVerifier {
            hasher,
            dummy_hash,
            throttle: Mutex::new(LoginThrottle::new(throttle)),
            argon2_permits: Arc::new(Semaphore::new(cores)),
            verifications: AtomicU64::new(0),
        })
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, LoginThrottle> {
        self.throttle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks `username` and `password` for a request from `ip` at `now`.
    ///
    /// # Errors
    /// [`SignInFailure`].
    pub async fn verify(
        &self,
        store: &dyn Store,
        username: &str,
        password: &str,
        ip: IpAddr,
        now: UnixSeconds,
    ) -> Result<User, SignInFailure> {
        let user_key = format!("user:{}", username.to_ascii_lowercase());
        let ip_key = format!("ip:{ip}");
        let mut delay = std::time::Duration::ZERO;
        for key in [&user_key, &ip_key] {
            match self.throttle().check(key, now) {
                ThrottleDecision::Locked(_) => return Err(SignInFailure::Locked),
                ThrottleDecision::Allow(wait) => delay = delay.max(wait),
            }
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let user = store
            .find_user_by_username(username)
            .await
            .map_err(SignInFailure::Store)?;
        let stored_hash = user
            .as_ref()
            .map_or(self.dummy_hash.clone(), |user| user.password_hash.clone());
        let matches = self.check_password(password, stored_hash).await;
        match user {
            Some(user) if matches && user.disabled_at.is_none() => {
                let mut throttle = self.throttle();
                throttle.record_success(&user_key);
                throttle.record_success(&ip_key);
                Ok(user)
            }
            found => {
                let mut throttle = self.throttle();
                throttle.record_failure(&user_key, now);
                throttle.record_failure(&ip_key, now);
                let reason = match found {
                    None => "unknown user",
                    Some(user) if user.disabled_at.is_some() => "user disabled",
                    Some(_) => "wrong password",
                };
                Err(SignInFailure::InvalidCredentials(reason))
            }
        }
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
