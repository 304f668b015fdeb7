//! The auth server's settings, already validated by the binary's configuration loader.

use portcullis_core::{KeyLifecyclePolicy, TokenPolicy};
use portcullis_jose::Algorithm;
use std::time::Duration;

/// Everything the auth server needs to know besides its store and keys.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Issuer identifier and access token lifetimes.
    pub token_policy: TokenPolicy,
    /// Signing-key timing.
    pub key_policy: KeyLifecyclePolicy,
    /// The algorithm access tokens are signed with.
    pub access_token_algorithm: Algorithm,
    /// `max-age` of the JWKS response.
    pub jwks_max_age_secs: u64,
    /// How often the server re-reads keys from the store and checks automatic rotation.
    pub key_refresh_interval: Duration,
}

impl AuthSettings {
    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.token_policy.issuer
    }

    /// An absolute URL on this server for `path` (which starts with `/`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer().trim_end_matches('/'))
    }
}
