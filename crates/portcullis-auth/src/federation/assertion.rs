//! `private_key_jwt` towards upstream providers: this server signs its client assertions with
//! its own current signing key, which the provider reads from this server's JWK Set (register
//! `<issuer>/.well-known/jwks.json` as the client's `jwks_uri` there). No secret is shared.

use portcullis_core::Clock;
use portcullis_jose::{Algorithm, sign_compact};
use portcullis_sdk::client::AssertionSigner;
use portcullis_service::KeyManager;
use std::sync::Arc;

/// Signs with the server's current key of one algorithm.
pub struct ServerKeySigner {
    keys: Arc<KeyManager>,
    clock: Arc<dyn Clock>,
    algorithm: Algorithm,
}

impl ServerKeySigner {
    /// A signer with the current `algorithm` key of `keys`.
    pub fn new(keys: Arc<KeyManager>, clock: Arc<dyn Clock>, algorithm: Algorithm) -> Self {
        ServerKeySigner {
            keys,
            clock,
            algorithm,
        }
    }
}

impl AssertionSigner for ServerKeySigner {
    fn sign(&self, claims: &serde_json::Value) -> Result<String, String> {
        let key = self
            .keys
            .signer(self.algorithm, self.clock.now())
            .ok_or_else(|| format!("no current {} signing key", self.algorithm.as_str()))?;
        let payload = serde_json::to_vec(claims).map_err(|error| error.to_string())?;
        // draft-ietf-oauth-rfc7523bis §4.1: explicitly typed, so no other JWT of this issuer (an
        // id token) passes for an assertion, nor an assertion for one.
        sign_compact(&payload, "client-authentication+jwt", &key).map_err(|error| error.to_string())
    }
}
