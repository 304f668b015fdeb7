//! The secret tokens of emailed links (password reset, address confirmation, invitations): 256
//! random bits in base64url, stored only as their SHA-256. The link itself is in the body of its
//! message while that waits in the outbox (until the SMTP server accepts it, usually seconds),
//! and is then gone from the store.

use crate::StoreError;
use portcullis_core::generate_secret;
use portcullis_jose::sha256;

/// Bytes of randomness in a link's token.
const TOKEN_BYTES: usize = 32;

/// A new token and the hash to store.
///
/// # Errors
/// [`StoreError::Unavailable`] when the system has no randomness to give.
pub fn new_link_token() -> Result<(String, Vec<u8>), StoreError> {
    let token = generate_secret(TOKEN_BYTES)
        .map_err(|_| StoreError::Unavailable("no randomness for a token".into()))?;
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a presented token.
pub fn token_hash(token: &str) -> Vec<u8> {
    sha256(token.as_bytes()).to_vec()
}
