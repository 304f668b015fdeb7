//! A DPoP client for tests (RFC 9449), made of independent parts: a P-256 key from `rcgen`, and
//! proofs signed and thumbprints computed by the `jsonwebtoken` crate, so Portcullis's own DPoP
//! code is checked against another implementation.

use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static JTI: AtomicU64 = AtomicU64::new(0);

/// A client's DPoP key.
pub struct DpopKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

impl Default for DpopKey {
    fn default() -> Self {
        Self::new()
    }
}

impl DpopKey {
    /// A new P-256 key.
    pub fn new() -> Self {
        let pair = rcgen::KeyPair::generate().expect("P-256 key");
        let encoding = EncodingKey::from_ec_der(&pair.serialize_der());
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("jwk");
        DpopKey { encoding, jwk }
    }

    /// Its JWK SHA-256 thumbprint (RFC 7638), as `cnf.jkt` names it.
    pub fn jkt(&self) -> String {
        self.jwk.thumbprint(ThumbprintHash::SHA256)
    }

    /// The claims of a fresh proof for `method url` at `now`, with `ath` for `access_token`.
    pub fn claims(method: &str, url: &str, now: i64, access_token: Option<&str>) -> Value {
        let mut claims = json!({
            "jti": format!("proof-{}", JTI.fetch_add(1, Ordering::Relaxed)),
            "htm": method,
            "htu": url,
            "iat": now,
        });
        if let Some(token) = access_token {
            claims["ath"] =
                portcullis_jose::base64url::encode(portcullis_jose::sha256(token.as_bytes()))
                    .into();
        }
        claims
    }

    /// A proof with these claims.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(self.jwk.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("proof")
    }

    /// A proof with the header `header` (this key's, changed by the caller), signed with
    /// `alg` and `key`: for the defects a well-behaved library would not produce.
    pub fn sign_with_header(
        header: &Value,
        claims: &Value,
        alg: Algorithm,
        key: &EncodingKey,
    ) -> String {
        let encode = |value: &Value| {
            portcullis_jose::base64url::encode(serde_json::to_vec(value).expect("json"))
        };
        let input = format!("{}.{}", encode(header), encode(claims));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("signature");
        format!("{input}.{signature}")
    }

    /// This key's proof header: `typ`, `alg` and the public `jwk`.
    pub fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk })
    }

    /// The private key, to sign a proof with a changed header.
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    /// A fresh proof for `method url` at `now`, with `ath` for `access_token`.
    pub fn proof(&self, method: &str, url: &str, now: i64, access_token: Option<&str>) -> String {
        self.sign(&Self::claims(method, url, now, access_token))
    }
}
