//! JOSE for Portcullis: signing keys, JSON Web Keys, JWS compact signing and verification
//! (RFC 7515), JWT access-token validation (RFC 7519, RFC 9068) and encryption of private keys at rest.
//!
//! The cryptography is aws-lc-rs; this crate only implements the protocol around it. Verification
//! always takes the algorithm from the key, never from the token header (RFC 8725 §3.1).
#![warn(missing_docs)]

mod algorithm;
pub mod base64url;
pub mod dpop;
mod error;
#[cfg(feature = "remote")]
pub mod http_answer;
mod jws;
mod jwt;
mod key_encryption;
mod key_set;
#[cfg(feature = "remote")]
pub mod remote_key_set;
pub mod replay;
mod signing_key;
mod verifying_key;

pub use algorithm::Algorithm;
pub use error::JoseError;
pub use jws::{JwsHeader, MAX_TOKEN_LENGTH, UnsecuredJws, UnverifiedJws, sign_compact};
pub use jwt::{AccessTokenValidation, Audience, ValidatedToken, ValidationError};
pub use key_encryption::{KeyEncryptionKey, MacKey};
pub use key_set::KeySet;
pub use signing_key::SigningKey;
pub use verifying_key::VerifyingKey;

/// Fills `dest` from the operating system's secure random generator.
///
/// # Errors
/// Fails only when the system generator is unavailable.
pub fn random_bytes(dest: &mut [u8]) -> Result<(), JoseError> {
    aws_lc_rs::rand::fill(dest).map_err(|_| JoseError::Crypto("random generator unavailable"))
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// The OpenID Connect `at_hash` of an access token for an id token signed with `alg`: the left
/// half of the hash named by the algorithm (SHA-256 for ES256 and RS256; SHA-512 for EdDSA with
/// Ed25519), base64url (OpenID Connect Core §3.1.3.6).
pub fn token_hash_claim(alg: Algorithm, token: &str) -> String {
    let digest = match alg {
        Algorithm::Es256 | Algorithm::Rs256 => {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        }
        Algorithm::EdDsa => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, token.as_bytes()),
    };
    let bytes = digest.as_ref();
    base64url::encode(&bytes[..bytes.len() / 2])
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_openid_connect_example() {
        // OpenID Connect Core, Appendix A.3: access_token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // with RS256 has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            token_hash_claim(
                Algorithm::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(token_hash_claim(Algorithm::EdDsa, "x").len(), 43);
    }
}
