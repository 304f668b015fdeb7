//! Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata (OpenID Connect
//! Discovery 1.0 §3). Portcullis lists only what it really implements.

use serde::{Deserialize, Serialize};

/// The metadata document served at `/.well-known/oauth-authorization-server` and
/// `/.well-known/openid-configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier; equals the `iss` of every token (RFC 8414 §3.3).
    pub issuer: String,
    /// URL of the token endpoint.
    pub token_endpoint: String,
    /// URL of the JWK Set.
    pub jwks_uri: String,
    /// Response types of the authorization endpoint; empty while there is none.
    pub response_types_supported: Vec<String>,
    /// Grant types the token endpoint accepts.
    pub grant_types_supported: Vec<String>,
    /// Client authentication methods the token endpoint accepts.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Algorithms access tokens may be signed with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_token_signing_alg_values_supported: Vec<String>,
}
