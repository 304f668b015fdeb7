//! Checking a username and password, for the sign-in page and `POST /login`.
//!
//! * Unknown users and wrong passwords fail the same way, and an unknown user still costs one
//!   Argon2 verification against a dummy hash, so neither the message nor the timing reveals who
//!   has an account.
//! * Attempts are throttled per account and per network ([`portcullis_core::throttle`]): each is
//!   reserved atomically before the password is checked, so concurrent guesses cannot slip past
//!   the limit, and the counters are shared by the cluster when it has Redis.
//! * Argon2 runs on the blocking pool, at most one verification per CPU at once, so a flood of
//!   sign-ins cannot starve the token endpoint of threads. Admission control: an attempt waits
//!   for its turn at most [`SignInAdmission::max_wait`] in a queue of at most
//!   [`SignInAdmission::max_waiting`], else is refused at once as [`SignInFailure::Busy`] (503
//!   with `Retry-After`), before anything is counted against the account.

use crate::admission::{Admission, AdmissionLimits};
use crate::{SignInThrottle, Store, StoreError};
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::{PasswordError, PasswordHasher, PasswordPolicy, UnixSeconds, User};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Why a sign-in failed. The user only ever sees one generic message.
#[derive(Debug)]
pub enum SignInFailure {
    /// Wrong username or password, or a disabled user.
    InvalidCredentials(&'static str),
    /// Too many failures for this username or address.
    Locked,
    /// The store failed.
    Store(StoreError),
    /// Too many sign-ins at once: this one was not admitted (nothing was counted).
    Busy,
}

impl SignInFailure {
    /// [`SignInFailure::Busy`] where callers answer store failures (a page's 503).
    pub fn busy_as_unavailable() -> StoreError {
        StoreError::Unavailable("too many sign-ins at once".to_owned())
    }
}

/// How long a sign-in may wait for its Argon2 verification, and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInAdmission {
    /// Verifications at once; zero means one per CPU.
    pub concurrency: usize,
    /// The longest wait for a turn.
    pub max_wait: Duration,
    /// Attempts waiting at once; more are refused at once.
    pub max_waiting: usize,
}

impl Default for SignInAdmission {
    fn default() -> Self {
        SignInAdmission {
            concurrency: 0,
            // A sign-in's latency is this wait, plus its Argon2 run (about 30 ms at the OWASP
            // cost) and the rest of the request, which at saturation waits for CPU too. On 2
            // cores with the load generator beside the server, p99 at 150 ms was 267-308 ms and
            // at 100 ms 232-275 ms (BENCHMARKS.md, "Sign-in at saturation"): 100 ms is the
            // wait that can keep it under 250 ms, at the margin.
            max_wait: Duration::from_millis(100),
            max_waiting: 64,
        }
    }
}

/// Verifies credentials with throttling.
pub struct CredentialVerifier {
    hasher: PasswordHasher,
    dummy_hash: String,
    argon2_turns: Admission,
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
        Self::with_admission(policy, SignInAdmission::default())
    }

    /// A verifier whose attempts wait for their Argon2 turn as `admission` says.
    ///
    /// # Errors
    /// Invalid Argon2 parameters.
    pub fn with_admission(
        policy: PasswordPolicy,
        admission: SignInAdmission,
    ) -> Result<Self, PasswordError> {
        let hasher = PasswordHasher::new(policy)?;
        let mut random = [0u8; 24];
        portcullis_jose::random_bytes(&mut random).map_err(|_| PasswordError::HashingFailed)?;
        let dummy_hash = hasher.hash(&portcullis_jose::base64url::encode(random))?;
        let capacity = match admission.concurrency {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            chosen => chosen,
        };
        Ok(CredentialVerifier {
            hasher,
            dummy_hash,
            argon2_turns: Admission::new(AdmissionLimits {
                capacity,
                max_waiting: admission.max_waiting,
                max_wait: admission.max_wait,
            }),
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
        // Admitted first: a refused attempt is not counted against the account.
        let turn = self.turn().await?;
        let keys = AttemptKeys::new(attempt.username, attempt.client);
        let turn = self.reserve(throttle, &keys, attempt.now, turn).await?;
        let user = store
            .find_user_by_username(attempt.username)
            .await
            .map_err(SignInFailure::Store)?;
        let stored_hash = user
            .as_ref()
            .map_or(self.dummy_hash.clone(), |user| user.password_hash.clone());
        let matches = self
            .check_password(turn, attempt.password, stored_hash)
            .await;
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
        let turn = self.turn().await?;
        let keys = AttemptKeys::new(attempt.username, attempt.client);
        let turn = self.reserve(throttle, &keys, attempt.now, turn).await?;
        if !self
            .check_password(turn, attempt.password, stored_hash)
            .await
        {
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

    /// A turn to run one Argon2 verification.
    async fn turn(&self) -> Result<OwnedSemaphorePermit, SignInFailure> {
        self.argon2_turns
            .admit()
            .await
            .map_err(|_| SignInFailure::Busy)
    }

    /// Reserves an attempt on `keys` (refused while locked) with `turn` in hand. A throttled
    /// attempt gives its turn back for its delay and then waits for another, however long: it is
    /// counted already, and a slowed-down guess must not hold a turn others need.
    async fn reserve(
        &self,
        throttle: &dyn SignInThrottle,
        keys: &AttemptKeys,
        now: UnixSeconds,
        turn: OwnedSemaphorePermit,
    ) -> Result<OwnedSemaphorePermit, SignInFailure> {
        match throttle
            .reserve(keys, now)
            .await
            .map_err(SignInFailure::Store)?
        {
            ThrottleDecision::Locked(_) => Err(SignInFailure::Locked),
            ThrottleDecision::Allow(delay) if delay.is_zero() => Ok(turn),
            ThrottleDecision::Allow(delay) => {
                drop(turn);
                tokio::time::sleep(delay).await;
                self.argon2_turns.wait().await.ok_or(SignInFailure::Busy)
            }
        }
    }

    async fn check_password(
        &self,
        turn: OwnedSemaphorePermit,
        password: &str,
        stored_hash: String,
    ) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        // The turn goes with the verification: a request dropped meanwhile does not free it
        // while Argon2 still runs.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            hasher.verify(&password, &stored_hash)
        })
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(false)
    }
}
