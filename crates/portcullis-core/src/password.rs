//! Password hashing with Argon2id (RFC 9106), with OWASP's recommended parameters by default.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use thiserror::Error;

/// The stored hash of a user without a password: no PHC string, so nothing ever verifies
/// against it.
pub const UNUSABLE_PASSWORD_HASH: &str = "!";

/// How new passwords are checked and hashed: the shortest allowed, and the Argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// The fewest characters a chosen password may have (NIST SP 800-63B: at least 8; default 12).
    pub min_length: usize,
    /// Memory in KiB (OWASP: 19456 = 19 MiB).
    pub memory_kib: u32,
    /// Passes over memory (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
}

impl Default for PasswordPolicy {
    /// The OWASP Password Storage Cheat Sheet's Argon2id baseline: m=19 MiB, t=2, p=1.
    fn default() -> Self {
        PasswordPolicy {
            min_length: DEFAULT_MIN_PASSWORD_LENGTH,
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Password length bounds: long enough to matter (NIST SP 800-63B's floor), short enough to
/// bound hashing work.
pub const MIN_PASSWORD_LENGTH: usize = 8;
/// See [`MIN_PASSWORD_LENGTH`].
pub const MAX_PASSWORD_LENGTH: usize = 1024;
/// The default shortest password a person may choose.
pub const DEFAULT_MIN_PASSWORD_LENGTH: usize = 12;
/// The highest minimum that may be configured: NIST asks that passwords of at least 64
/// characters be allowed, so a minimum above that would refuse what must be accepted.
pub const MAX_MIN_PASSWORD_LENGTH: usize = 64;

/// Why a password could not be set or checked.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PasswordError {
    /// Shorter than the minimum.
    #[error("password must be at least {min} characters")]
    TooShort {
        /// The minimum, in characters.
        min: usize,
    },
    /// Longer than [`MAX_PASSWORD_LENGTH`] bytes.
    #[error("password must be at most {MAX_PASSWORD_LENGTH} bytes")]
    TooLong,
    /// Common, a dictionary word, a pattern, or built on the account's own name: the advice says
    /// what to change.
    #[error("password is too easy to guess: {0}")]
    TooGuessable(String),
    /// The configured Argon2 parameters are out of range.
    #[error("invalid Argon2 parameters: {0}")]
    InvalidParameters(String),
    /// The stored hash is not a PHC string this hasher can read.
    #[error("stored password hash is unreadable")]
    UnreadableHash,
    /// Hashing failed (random generator or library failure).
    #[error("password hashing failed")]
    HashingFailed,
}

/// Hashes and verifies passwords with Argon2id.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    min_length: usize,
}

impl PasswordHasher {
    /// A hasher with the given parameters.
    ///
    /// # Errors
    /// [`PasswordError::InvalidParameters`] when Argon2 refuses them or the minimum length is
    /// outside [`MIN_PASSWORD_LENGTH`]..=[`MAX_MIN_PASSWORD_LENGTH`].
    pub fn new(policy: PasswordPolicy) -> Result<Self, PasswordError> {
        if !(MIN_PASSWORD_LENGTH..=MAX_MIN_PASSWORD_LENGTH).contains(&policy.min_length) {
            return Err(PasswordError::InvalidParameters(format!(
                "min_length must be {MIN_PASSWORD_LENGTH} to {MAX_MIN_PASSWORD_LENGTH}"
            )));
        }
        let params = Params::new(
            policy.memory_kib,
            policy.iterations,
            policy.parallelism,
            None,
        )
        .map_err(|error| PasswordError::InvalidParameters(error.to_string()))?;
        Ok(PasswordHasher {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            min_length: policy.min_length,
        })
    }

    /// The fewest characters a chosen password may have.
    pub fn min_length(&self) -> usize {
        self.min_length
    }

    /// Checks a password a person chooses against the policy
    /// ([`check_new_password`](crate::password_strength::check_new_password), with `context` the
    /// account's username and email), then hashes it. Takes a few milliseconds of estimation on
    /// top of the hashing: call it off the async threads.
    ///
    /// # Errors
    /// [`PasswordError::TooShort`], [`PasswordError::TooLong`],
    /// [`PasswordError::TooGuessable`], or a hashing failure.
    pub fn hash_new(&self, password: &str, context: &[&str]) -> Result<String, PasswordError> {
        crate::password_strength::check_new_password(password, self.min_length, context)?;
        self.hash(password)
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=...`), after checking only the
    /// absolute length bounds; a password a person chooses goes through
    /// [`PasswordHasher::hash_new`].
    ///
    /// # Errors
    /// [`PasswordError::TooShort`] / [`PasswordError::TooLong`], or a hashing failure.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        if password.chars().count() < MIN_PASSWORD_LENGTH {
            return Err(PasswordError::TooShort {
                min: MIN_PASSWORD_LENGTH,
            });
        }
        if password.len() > MAX_PASSWORD_LENGTH {
            return Err(PasswordError::TooLong);
        }
        let mut salt = [0u8; 16];
        portcullis_jose::random_bytes(&mut salt).map_err(|_| PasswordError::HashingFailed)?;
        let salt = SaltString::encode_b64(&salt).map_err(|_| PasswordError::HashingFailed)?;
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|_| PasswordError::HashingFailed)
    }

    /// Whether `stored` is an Argon2id PHC hash this server may store for a user (imported from
    /// another system): readable, and at most four times this hasher's memory and time cost, so
    /// verifying it later cannot exhaust memory or block a thread for long. Nothing is hashed.
    pub fn accepts_hash(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let own = self.argon2.params();
        parsed.algorithm.as_str() == "argon2id"
            && params.m_cost() <= own.m_cost().saturating_mul(4)
            && params.t_cost() <= own.t_cost().saturating_mul(4)
            && params.p_cost() <= own.p_cost().saturating_mul(4)
    }

    /// Whether `password` matches the stored PHC string. The parameters stored in the hash are
    /// used, so hashes made under older parameters keep verifying.
    ///
    /// # Errors
    /// [`PasswordError::UnreadableHash`] when the stored value is not an Argon2 PHC string.
    pub fn verify(&self, password: &str, stored: &str) -> Result<bool, PasswordError> {
        let parsed = PasswordHash::new(stored).map_err(|_| PasswordError::UnreadableHash)?;
        if password.len() > MAX_PASSWORD_LENGTH {
            return Ok(false);
        }
        Ok(self
            .argon2
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(PasswordPolicy {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            ..PasswordPolicy::default()
        })
        .expect("params")
    }

    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let hasher = fast();
        let hash = hasher.hash("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_ne!(hasher.hash("correct horse").expect("hash"), hash, "salted");
        assert_eq!(hasher.verify("correct horse", &hash), Ok(true));
        assert_eq!(hasher.verify("correct horsE", &hash), Ok(false));
        assert_eq!(
            hasher.verify("x", "not a hash"),
            Err(PasswordError::UnreadableHash)
        );
    }

    #[test]
    fn default_policy_is_owasp_and_lengths_are_bounded() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            (
                policy.min_length,
                policy.memory_kib,
                policy.iterations,
                policy.parallelism
            ),
            (12, 19_456, 2, 1)
        );
        assert_eq!(
            fast().hash("short"),
            Err(PasswordError::TooShort { min: 8 })
        );
        assert_eq!(
            fast().hash_new("hello world", &[]),
            Err(PasswordError::TooShort { min: 12 }),
            "a chosen password meets the configured minimum"
        );
        assert!(fast().hash_new("velvet otter juggles", &[]).is_ok());
        for min_length in [7, 65] {
            assert!(
                PasswordHasher::new(PasswordPolicy {
                    min_length,
                    ..PasswordPolicy::default()
                })
                .is_err(),
                "{min_length}"
            );
        }
        assert_eq!(fast().hash(&"x".repeat(1025)), Err(PasswordError::TooLong));
        assert!(
            PasswordHasher::new(PasswordPolicy {
                memory_kib: 1,
                iterations: 0,
                parallelism: 1,
                ..PasswordPolicy::default()
            })
            .is_err()
        );
    }

    #[test]
    fn imported_hashes_are_accepted_only_within_the_cost_limits() {
        let hasher = fast();
        let own = hasher.hash("correct horse battery").expect("hash");
        assert!(hasher.accepts_hash(&own));
        let costly = own.replacen("m=64,", "m=1048576,", 1);
        assert_ne!(costly, own);
        assert!(
            !hasher.accepts_hash(&costly),
            "four times the memory at most"
        );
        assert!(!hasher.accepts_hash(&own.replacen("$argon2id$", "$argon2i$", 1)));
        assert!(!hasher.accepts_hash("md5:abc"));
    }
}
