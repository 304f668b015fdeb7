//! Encryption of private signing keys at rest with AES-256-GCM under a key-encryption key (KEK).

use crate::{JoseError, base64url};
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::{hkdf, hmac};
use std::fmt;

/// Format version of a sealed blob: `1 || nonce (12) || ciphertext || tag (16)`.
const SEALED_FORMAT_V1: u8 = 1;
const KEK_LEN: usize = 32;

/// A 256-bit key-encryption key. Its `Debug` output never shows the key.
pub struct KeyEncryptionKey {
    bytes: [u8; KEK_LEN],
    aead: RandomizedNonceKey,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

impl KeyEncryptionKey {
    /// A second handle on the same key, for a component that keeps its own.
    ///
    /// # Errors
    /// Fails only if the crypto library refuses the key.
    pub fn duplicate(&self) -> Result<Self, JoseError> {
        Self::from_bytes(self.bytes)
    }

    /// A fresh random key.
    ///
    /// # Errors
    /// Fails only when the system random generator is unavailable.
    pub fn generate() -> Result<Self, JoseError> {
        let mut bytes = [0u8; KEK_LEN];
        crate::random_bytes(&mut bytes)?;
        Self::from_bytes(bytes)
    }

    /// Reads a key written by [`KeyEncryptionKey::to_base64url`]: exactly 32 bytes, base64url.
    ///
    /// # Errors
    /// [`JoseError::InvalidKey`] for anything else.
    pub fn from_base64url(text: &str) -> Result<Self, JoseError> {
        let decoded = base64url::decode(text.trim())
            .ok_or(JoseError::InvalidKey("key-encryption key is not base64url"))?;
        let bytes: [u8; KEK_LEN] = decoded
            .try_into()
            .map_err(|_| JoseError::InvalidKey("key-encryption key must be 32 bytes"))?;
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: [u8; KEK_LEN]) -> Result<Self, JoseError> {
        let aead = RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| JoseError::Crypto("AES-256-GCM key setup failed"))?;
        Ok(KeyEncryptionKey { bytes, aead })
    }

    /// The key as base64url, for writing the generated key file.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.bytes)
    }

    /// A key for HMAC-SHA256 tags, derived from this key for one `purpose` (HKDF-SHA256,
    /// RFC 5869), so every server holding the key-encryption key computes the same tags and no
    /// purpose's key reveals another's.
    ///
    /// # Errors
    /// Fails only if the crypto library refuses.
    pub fn derive_mac_key(&self, purpose: &str) -> Result<MacKey, JoseError> {
        let info = [purpose.as_bytes()];
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis").extract(&self.bytes);
        let okm = prk
            .expand(&info, hmac::HMAC_SHA256)
            .map_err(|_| JoseError::Crypto("key derivation failed"))?;
        Ok(MacKey(hmac::Key::from(okm)))
    }

    /// Encrypts `plaintext`, binding it to `context` (the key id) so a sealed key cannot be moved
    /// to another record unnoticed.
    ///
    /// # Errors
    /// Fails only if the crypto library refuses.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, JoseError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .aead
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| JoseError::Crypto("sealing failed"))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEALED_FORMAT_V1);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Decrypts what [`KeyEncryptionKey::seal`] produced with the same `context`.
    ///
    /// # Errors
    /// [`JoseError::Unseal`] for a wrong key, wrong context or corrupted data.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, JoseError> {
        let (&version, rest) = sealed.split_first().ok_or(JoseError::Unseal)?;
        if version != SEALED_FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(JoseError::Unseal);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| JoseError::Unseal)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .aead
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| JoseError::Unseal)?;
        Ok(plaintext.to_vec())
    }
}

/// An HMAC-SHA256 key ([`KeyEncryptionKey::derive_mac_key`]). Its `Debug` output never shows
/// the key.
pub struct MacKey(hmac::Key);

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

impl MacKey {
    /// A key from secret bytes (a configured secret shared by several servers).
    pub fn from_secret(secret: &[u8]) -> MacKey {
        MacKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// A new random key, known only to this process.
    ///
    /// # Errors
    /// Fails only if the random generator does.
    pub fn random() -> Result<MacKey, JoseError> {
        let mut secret = [0u8; 32];
        crate::random_bytes(&mut secret)?;
        Ok(MacKey::from_secret(&secret))
    }

    /// The tag of `data`.
    pub fn tag(&self, data: &[u8]) -> [u8; 32] {
        let mut tag = [0u8; 32];
        tag.copy_from_slice(hmac::sign(&self.0, data).as_ref());
        tag
    }

    /// Whether `tag` is the tag of `data`, compared in constant time.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.0, data, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_keys_are_per_purpose_and_shared_by_every_holder_of_the_key() {
        let kek = KeyEncryptionKey::generate().expect("kek");
        let same = KeyEncryptionKey::from_base64url(&kek.to_base64url()).expect("kek");
        let csrf = kek.derive_mac_key("csrf").expect("derive");
        let tag = csrf.tag(b"nonce");
        assert!(
            same.derive_mac_key("csrf")
                .expect("derive")
                .verify(b"nonce", &tag)
        );
        assert!(
            !kek.derive_mac_key("other")
                .expect("derive")
                .verify(b"nonce", &tag)
        );
        assert!(!csrf.verify(b"nonce2", &tag));
        let other = KeyEncryptionKey::generate().expect("kek");
        assert!(
            !other
                .derive_mac_key("csrf")
                .expect("derive")
                .verify(b"nonce", &tag)
        );
        assert_eq!(format!("{csrf:?}"), "MacKey(<redacted>)");
    }

    #[test]
    fn seal_and_open_round_trip_and_detect_misuse() {
        let kek = KeyEncryptionKey::generate().expect("kek");
        let sealed = kek.seal(b"private key", "kid-1").expect("seal");
        assert!(!sealed.windows(11).any(|window| window == b"private key"));
        assert_eq!(kek.open(&sealed, "kid-1").expect("open"), b"private key");
        assert_eq!(kek.open(&sealed, "kid-2"), Err(JoseError::Unseal));
        let other = KeyEncryptionKey::generate().expect("kek");
        assert_eq!(other.open(&sealed, "kid-1"), Err(JoseError::Unseal));
        let mut corrupted = sealed.clone();
        if let Some(last) = corrupted.last_mut() {
            *last ^= 1;
        }
        assert_eq!(kek.open(&corrupted, "kid-1"), Err(JoseError::Unseal));
        assert_eq!(kek.open(&[], "kid-1"), Err(JoseError::Unseal));
    }

    #[test]
    fn base64url_form_round_trips_and_debug_hides_the_key() {
        let kek = KeyEncryptionKey::generate().expect("kek");
        let text = kek.to_base64url();
        let again = KeyEncryptionKey::from_base64url(&text).expect("parse");
        assert_eq!(again.to_base64url(), text);
        assert!(!format!("{kek:?}").contains(&text));
        assert!(KeyEncryptionKey::from_base64url("c2hvcnQ").is_err());
    }
}
