//! Errors of key handling and JWS processing.

use thiserror::Error;

/// What went wrong with a key or a JWS. Messages are safe to show: they never contain key material.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JoseError {
    /// The token is not a well-formed JWS compact serialization.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token's header is not acceptable (unknown kid, algorithm mismatch, critical extension...).
    #[error("token header rejected: {0}")]
    HeaderRejected(&'static str),
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    /// The algorithm name is not one Portcullis supports.
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// A key could not be parsed or is not acceptable (wrong type, too short, bad encoding).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A sealed private key could not be opened: wrong key-encryption key or corrupted data.
    #[error("cannot decrypt private key: wrong key-encryption key or corrupted data")]
    Unseal,
    /// The crypto library refused an operation.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}
