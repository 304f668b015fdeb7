//! The JWS algorithms Portcullis signs and verifies with (RFC 7518 §3, RFC 8037 §3.1).

use crate::JoseError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm. Only asymmetric algorithms exist here: `none` and the HMAC family
/// cannot be expressed, so they can never be accepted (RFC 8725 §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA with P-256 and SHA-256; the default for access tokens.
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256; mandatory for OpenID Connect id tokens.
    #[serde(rename = "RS256")]
    Rs256,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

    /// The registered `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = JoseError;

    /// Exact, case-sensitive match (RFC 7515 §4.1.1: `alg` values are case-sensitive).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == name)
            .ok_or_else(|| JoseError::UnsupportedAlgorithm(name.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_names_parse() {
        assert_eq!("ES256".parse::<Algorithm>(), Ok(Algorithm::Es256));
        assert_eq!("EdDSA".parse::<Algorithm>(), Ok(Algorithm::EdDsa));
        assert_eq!("RS256".parse::<Algorithm>(), Ok(Algorithm::Rs256));
        for name in ["none", "None", "NONE", "HS256", "es256", "ES384", ""] {
            assert!(name.parse::<Algorithm>().is_err(), "{name} must not parse");
        }
    }
}
