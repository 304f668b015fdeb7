//! Private signing keys: generation, PKCS#8 import/export, signing, and the public JWK.

use crate::{Algorithm, JoseError, VerifyingKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use portcullis_types::Jwk;
use std::fmt;

enum KeyMaterial {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A private key bound to one algorithm and one key id. It signs only with its own algorithm.
pub struct SigningKey {
    kid: String,
    material: KeyMaterial,
    verifying_key: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key for `alg` (RSA keys are 2048 bits, the minimum of RFC 7518 §3.3).
    ///
    /// # Errors
    /// Fails only if the crypto library cannot generate a key.
    pub fn generate(alg: Algorithm, kid: String) -> Result<Self, JoseError> {
        let failed = |_| JoseError::Crypto("key generation failed");
        let material = match alg {
            Algorithm::Es256 => KeyMaterial::Es256(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?,
            ),
            Algorithm::EdDsa => KeyMaterial::EdDsa(Ed25519KeyPair::generate().map_err(failed)?),
            Algorithm::Rs256 => {
                KeyMaterial::Rs256(RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?)
            }
        };
        Self::from_material(kid, material)
    }

    /// Loads a key from its PKCS#8 DER encoding.
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] when the bytes are not a valid key of that algorithm.
    pub fn from_pkcs8(alg: Algorithm, kid: String, der: &[u8]) -> Result<Self, JoseError> {
        let rejected = |_| JoseError::InvalidKey("not a PKCS#8 key of the expected algorithm");
        let material = match alg {
            Algorithm::Es256 => KeyMaterial::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?,
            ),
            Algorithm::EdDsa => {
                KeyMaterial::EdDsa(Ed25519KeyPair::from_pkcs8(der).map_err(rejected)?)
            }
            Algorithm::Rs256 => KeyMaterial::Rs256(RsaKeyPair::from_pkcs8(der).map_err(rejected)?),
        };
        Self::from_material(kid, material)
    }

    fn from_material(kid: String, material: KeyMaterial) -> Result<Self, JoseError> {
        let verifying_key = match &material {
            KeyMaterial::Es256(pair) => {
                VerifyingKey::es256(kid.clone(), pair.public_key().as_ref())?
            }
            KeyMaterial::EdDsa(pair) => {
                VerifyingKey::ed25519(kid.clone(), pair.public_key().as_ref())?
            }
            KeyMaterial::Rs256(pair) => {
                let components =
                    aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                VerifyingKey::rs256(kid.clone(), components.n, components.e)?
            }
        };
        Ok(SigningKey {
            kid,
            material,
            verifying_key,
        })
    }

    /// The PKCS#8 DER encoding of the private key; seal it before storing it.
    ///
    /// # Errors
    /// Fails only if the crypto library cannot serialize the key.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, JoseError> {
        let failed = |_| JoseError::Crypto("key serialization failed");
        Ok(match &self.material {
            KeyMaterial::Es256(pair) => pair.to_pkcs8v1().map_err(failed)?.as_ref().to_vec(),
            KeyMaterial::EdDsa(pair) => pair.to_pkcs8().map_err(failed)?.as_ref().to_vec(),
            KeyMaterial::Rs256(pair) => pair.as_der().map_err(failed)?.as_ref().to_vec(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.verifying_key.algorithm()
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying_key
    }

    /// The public JWK, with `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> Jwk {
        self.verifying_key.to_jwk()
    }

    /// Signs `message`, returning the JWS signature bytes (RFC 7518 §3.4: ECDSA as R || S).
    ///
    /// # Errors
    /// Fails only if the crypto library refuses to sign.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let failed = |_| JoseError::Crypto("signing failed");
        match &self.material {
            KeyMaterial::Es256(pair) => Ok(pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            KeyMaterial::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyMaterial::Rs256(pair) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_algorithm_round_trips_through_pkcs8_and_verifies() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg, format!("k-{alg}")).expect("generate");
            let der = key.to_pkcs8().expect("pkcs8");
            let loaded = SigningKey::from_pkcs8(alg, key.kid().to_owned(), &der).expect("load");
            assert_eq!(loaded.public_jwk(), key.public_jwk());
            let signature = loaded.sign(b"message").expect("sign");
            assert!(key.verifying_key().verify(b"message", &signature).is_ok());
            assert!(key.verifying_key().verify(b"messagE", &signature).is_err());
        }
    }

    #[test]
    fn pkcs8_of_another_algorithm_is_rejected() {
        let ec = SigningKey::generate(Algorithm::Es256, "ec".into()).expect("generate");
        let der = ec.to_pkcs8().expect("pkcs8");
        assert!(SigningKey::from_pkcs8(Algorithm::Rs256, "x".into(), &der).is_err());
        assert!(SigningKey::from_pkcs8(Algorithm::EdDsa, "x".into(), &der).is_err());
        assert!(SigningKey::from_pkcs8(Algorithm::Es256, "x".into(), b"garbage").is_err());
    }
}
