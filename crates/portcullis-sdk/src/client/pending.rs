//! What an application keeps between sending the browser to the provider and its return: a
//! `state` binding the callback to this browser (RFC 6749 §10.12), a `nonce` binding the id
//! token to this sign-in (OpenID Connect Core §3.1.2.1), and the PKCE code verifier (RFC 7636).

use super::ClientError;
use portcullis_jose::{base64url, random_bytes, sha256};
use serde::{Deserialize, Serialize};

/// Random bytes in each value (256 bits).
const RANDOM_BYTES: usize = 32;

/// A sign-in waiting for its callback. Keep it server-side or in a cookie only this application
/// can read; its `Debug` shows nothing secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// The `state` sent, which the callback must carry back.
    pub state: String,
    /// The `nonce` sent, which the id token must carry.
    pub nonce: String,
    /// The PKCE code verifier, sent with the code.
    pub code_verifier: String,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PendingAuthorization")
            .finish_non_exhaustive()
    }
}

fn random() -> Result<String, ClientError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    random_bytes(&mut bytes).map_err(|_| ClientError::Randomness)?;
    Ok(base64url::encode(bytes))
}

impl PendingAuthorization {
    /// Fresh random values.
    ///
    /// # Errors
    /// [`ClientError::Randomness`].
    pub fn new() -> Result<Self, ClientError> {
        Ok(PendingAuthorization {
            state: random()?,
            nonce: random()?,
            code_verifier: random()?,
        })
    }

    /// The S256 challenge of the verifier (RFC 7636 §4.2).
    pub fn code_challenge(&self) -> String {
        base64url::encode(sha256(self.code_verifier.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_fresh_and_the_challenge_is_s256() {
        let first = PendingAuthorization::new().expect("random");
        let second = PendingAuthorization::new().expect("random");
        assert_ne!(first, second);
        assert_eq!(first.code_verifier.len(), 43, "within RFC 7636's 43..=128");
        // RFC 7636 Appendix B.
        let example = PendingAuthorization {
            code_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ..first
        };
        assert_eq!(
            example.code_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!format!("{second:?}").contains(&second.state));
    }
}
