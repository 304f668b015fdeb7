//! A `private_key_jwt` client for tests (RFC 7523), made of independent parts: a P-256 key from
//! `rcgen`, its public JWK and the assertions signed by the `jsonwebtoken` crate.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static JTI: AtomicU64 = AtomicU64::new(0);

/// A client's signing key.
pub struct ClientKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

impl ClientKey {
    /// A new P-256 key named `kid`.
    pub fn new(kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate().expect("P-256 key");
        let encoding = EncodingKey::from_ec_der(&pair.serialize_der());
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        ClientKey { encoding, jwk }
    }

    /// Its public JWK Set, as a client registers it (`jwks`) or serves it (`jwks_uri`).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// The claims of an assertion by `client_id` for `audience`, made at `now`, expiring
    /// `lifetime_secs` later, with a fresh `jti`.
    pub fn claims(client_id: &str, audience: &str, now: i64, lifetime_secs: i64) -> Value {
        json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime_secs,
            "jti": format!("assertion-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        })
    }

    /// An assertion with these claims, its header naming this key.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = self.jwk.common.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("assertion")
    }
}
