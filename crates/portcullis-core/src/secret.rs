//! High-entropy secrets (client secrets, token ids): generation and hashing for storage.
//!
//! A secret with at least 256 bits of randomness cannot be guessed or brute-forced offline, so a
//! single SHA-256 is a sufficient storage hash and keeps client authentication fast; a slow
//! password hash is only needed for human-chosen passwords.

use portcullis_jose::{JoseError, base64url, constant_time_eq, random_bytes, sha256};
use std::fmt;

/// Random bytes in a generated client secret: 256 bits.
pub const CLIENT_SECRET_BYTES: usize = 32;

/// A random, URL-safe secret of `bytes` bytes of entropy.
///
/// # Errors
/// Fails only when the system random generator is unavailable.
pub fn generate_secret(bytes: usize) -> Result<String, JoseError> {
    let mut buffer = vec![0u8; bytes];
    random_bytes(&mut buffer)?;
    Ok(base64url::encode(buffer))
}

/// What a random reference or code is stored under (SHA-256, base64url): a copy of the store
/// does not yield usable references.
pub fn storage_digest(secret: &str) -> String {
    base64url::encode(sha256(secret.as_bytes()))
}

/// The SHA-256 of a high-entropy secret. `Debug` shows only a prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

impl SecretHash {
    /// Hashes a presented or generated secret.
    pub fn of(secret: &str) -> Self {
        SecretHash(sha256(secret.as_bytes()))
    }

    /// Rebuilds a stored hash; `None` unless exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(SecretHash)
    }

    /// The raw digest, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `presented` hashes to this value, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(&sha256(presented.as_bytes()), &self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_unique_and_match_only_themselves() {
        let secret = generate_secret(CLIENT_SECRET_BYTES).expect("secret");
        let other = generate_secret(CLIENT_SECRET_BYTES).expect("secret");
        assert_eq!(secret.len(), 43, "32 bytes as unpadded base64url");
        assert_ne!(secret, other);
        let hash = SecretHash::of(&secret);
        assert!(hash.matches(&secret));
        assert!(!hash.matches(&other));
        assert!(!hash.matches(""));
        assert_eq!(SecretHash::from_bytes(hash.as_bytes()), Some(hash.clone()));
        assert!(SecretHash::from_bytes(&[0; 31]).is_none());
        assert!(!format!("{hash:?}").contains(&secret));
    }
}
