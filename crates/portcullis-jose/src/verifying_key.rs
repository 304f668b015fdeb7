//! Public verification keys, parsed once, with their algorithm pinned at construction.

use crate::{Algorithm, JoseError, base64url};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
};
use portcullis_types::Jwk;
use std::fmt;

/// The public components, kept to render the JWK.
#[derive(Clone, PartialEq, Eq)]
enum PublicComponents {
    /// P-256 coordinates, 32 bytes each.
    Ec { x: Vec<u8>, y: Vec<u8> },
    /// Ed25519 public key, 32 bytes.
    Okp { x: Vec<u8> },
    /// RSA modulus and exponent, big-endian without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// A public key usable for exactly one algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: String,
    alg: Algorithm,
    components: PublicComponents,
    parsed: ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.alg == other.alg && self.components == other.components
    }
}

const EC_COORDINATE_LEN: usize = 32;
const ED25519_KEY_LEN: usize = 32;

impl VerifyingKey {
    /// An ES256 key from its uncompressed SEC1 point (`0x04 || X || Y`).
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] when the point is not on P-256.
    pub fn es256(kid: String, uncompressed_point: &[u8]) -> Result<Self, JoseError> {
        if uncompressed_point.len() != 1 + 2 * EC_COORDINATE_LEN || uncompressed_point[0] != 0x04 {
            return Err(JoseError::InvalidKey(
                "EC key is not an uncompressed P-256 point",
            ));
        }
        let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, uncompressed_point)
            .map_err(|_| JoseError::InvalidKey("EC point is not on P-256"))?;
        let (x, y) = uncompressed_point[1..].split_at(EC_COORDINATE_LEN);
        Ok(VerifyingKey {
            kid,
            alg: Algorithm::Es256,
            components: PublicComponents::Ec {
                x: x.to_vec(),
                y: y.to_vec(),
            },
            parsed,
        })
    }

    /// An EdDSA key from its 32-byte Ed25519 public key.
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] when the bytes are not an Ed25519 public key.
    pub fn ed25519(kid: String, public_key: &[u8]) -> Result<Self, JoseError> {
        if public_key.len() != ED25519_KEY_LEN {
            return Err(JoseError::InvalidKey("Ed25519 key must be 32 bytes"));
        }
        let parsed = ParsedPublicKey::new(&ED25519, public_key)
            .map_err(|_| JoseError::InvalidKey("not an Ed25519 public key"))?;
        Ok(VerifyingKey {
            kid,
            alg: Algorithm::EdDsa,
            components: PublicComponents::Okp {
                x: public_key.to_vec(),
            },
            parsed,
        })
    }

    /// An RS256 key from modulus and exponent; moduli under 2048 bits are refused (RFC 7518 §3.3).
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] when the components do not form an acceptable RSA key.
    pub fn rs256(kid: String, n: Vec<u8>, e: Vec<u8>) -> Result<Self, JoseError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if n.len() < 256 {
            return Err(JoseError::InvalidKey("RSA modulus shorter than 2048 bits"));
        }
        let spki = PublicKeyComponents {
            n: &n[..],
            e: &e[..],
        }
        .as_der()
        .map_err(|_| JoseError::InvalidKey("RSA components rejected"))?;
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki.as_ref())
            .map_err(|_| JoseError::InvalidKey("RSA components rejected"))?;
        Ok(VerifyingKey {
            kid,
            alg: Algorithm::Rs256,
            components: PublicComponents::Rsa { n, e },
            parsed,
        })
    }

    /// Reads a public JWK. The key must carry a `kid`; if it names an `alg` it must be the one its
    /// type allows, and a `use` other than `sig` is refused.
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] or [`JoseError::UnsupportedAlgorithm`] for anything else.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JoseError> {
        let kid = jwk
            .kid
            .clone()
            .ok_or(JoseError::InvalidKey("JWK has no kid"))?;
        if jwk
            .key_use
            .as_deref()
            .is_some_and(|key_use| key_use != "sig")
        {
            return Err(JoseError::InvalidKey("JWK is not a signature key"));
        }
        let member = |value: &Option<String>, name: &'static str| {
            value
                .as_deref()
                .and_then(base64url::decode)
                .ok_or(JoseError::InvalidKey(name))
        };
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("EC", Some("P-256")) => {
                let x = member(&jwk.x, "EC key needs base64url x")?;
                let y = member(&jwk.y, "EC key needs base64url y")?;
                if x.len() != EC_COORDINATE_LEN || y.len() != EC_COORDINATE_LEN {
                    return Err(JoseError::InvalidKey("P-256 coordinates must be 32 bytes"));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::es256(kid, &point)?
            }
            ("OKP", Some("Ed25519")) => {
                Self::ed25519(kid, &member(&jwk.x, "OKP key needs base64url x")?)?
            }
            ("RSA", None) => Self::rs256(
                kid,
                member(&jwk.n, "RSA key needs base64url n")?,
                member(&jwk.e, "RSA key needs base64url e")?,
            )?,
            _ => return Err(JoseError::InvalidKey("unsupported key type or curve")),
        };
        if let Some(alg) = jwk.alg.as_deref()
            && alg.parse::<Algorithm>()? != key.alg
        {
            return Err(JoseError::InvalidKey("JWK alg does not match its key type"));
        }
        Ok(key)
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The only algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK, with `kid`, `alg` and `use: sig`.
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: Some(self.kid.clone()),
            key_use: Some("sig".to_owned()),
            alg: Some(self.alg.as_str().to_owned()),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.components {
            PublicComponents::Ec { x, y } => {
                jwk.kty = "EC".to_owned();
                jwk.crv = Some("P-256".to_owned());
                jwk.x = Some(base64url::encode(x));
                jwk.y = Some(base64url::encode(y));
            }
            PublicComponents::Okp { x } => {
                jwk.kty = "OKP".to_owned();
                jwk.crv = Some("Ed25519".to_owned());
                jwk.x = Some(base64url::encode(x));
            }
            PublicComponents::Rsa { n, e } => {
                jwk.kty = "RSA".to_owned();
                jwk.n = Some(base64url::encode(n));
                jwk.e = Some(base64url::encode(e));
            }
        }
        jwk
    }

    /// Verifies a JWS signature over `message` with this key's own algorithm.
    ///
    /// # Errors
    /// [`JoseError::BadSignature`] when it does not verify.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), JoseError> {
        self.parsed
            .verify_sig(message, signature)
            .map_err(|_| JoseError::BadSignature)
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|byte| **byte == 0).count();
    bytes.drain(..zeros);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    #[test]
    fn jwk_round_trip_preserves_the_key() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg, "kid-1".into()).expect("generate");
            let jwk = key.public_jwk();
            let parsed = VerifyingKey::from_jwk(&jwk).expect("parse");
            assert_eq!(&parsed, key.verifying_key());
            assert_eq!(parsed.to_jwk(), jwk);
        }
    }

    #[test]
    fn jwk_with_a_foreign_alg_is_refused() {
        let key = SigningKey::generate(Algorithm::Es256, "k".into()).expect("generate");
        for alg in ["HS256", "RS256", "none", "ES384"] {
            let mut jwk = key.public_jwk();
            jwk.alg = Some(alg.into());
            assert!(VerifyingKey::from_jwk(&jwk).is_err(), "{alg}");
        }
        let mut jwk = key.public_jwk();
        jwk.key_use = Some("enc".into());
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        let mut jwk = key.public_jwk();
        jwk.kid = None;
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn off_curve_points_and_short_rsa_moduli_are_refused() {
        let key = SigningKey::generate(Algorithm::Es256, "k".into()).expect("generate");
        let mut jwk = key.public_jwk();
        jwk.y = Some(base64url::encode([7u8; 32]));
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        assert!(VerifyingKey::rs256("k".into(), vec![0xff; 128], vec![1, 0, 1]).is_err());
        assert!(VerifyingKey::ed25519("k".into(), &[1u8; 31]).is_err());
    }
}
