//! Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata (OpenID Connect
//! Discovery 1.0 §3). Portcullis lists only what it really implements.

use serde::{Deserialize, Serialize};

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".to_owned(), "implicit".to_owned()]
}

fn default_token_endpoint_auth_methods() -> Vec<String> {
    vec!["client_secret_basic".to_owned()]
}

/// The metadata document served at `/.well-known/oauth-authorization-server` and
/// `/.well-known/openid-configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier; equals the `iss` of every token (RFC 8414 §3.3).
    pub issuer: String,
    /// URL of the authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// URL of the token endpoint.
    pub token_endpoint: String,
    /// URL of the userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// URL of the JWK Set.
    pub jwks_uri: String,
    /// URL of the revocation endpoint (RFC 7009).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// URL of the introspection endpoint (RFC 7662).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// URL of RP-initiated logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// Scopes the server knows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// Response types of the authorization endpoint.
    pub response_types_supported: Vec<String>,
    /// Response modes of the authorization endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    /// Grant types the token endpoint accepts. RFC 8414 §2: optional; omitted, it means
    /// `["authorization_code", "implicit"]`.
    #[serde(default = "default_grant_types")]
    pub grant_types_supported: Vec<String>,
    /// Client authentication methods the token endpoint accepts. RFC 8414 §2: optional;
    /// omitted, it means `client_secret_basic`.
    #[serde(default = "default_token_endpoint_auth_methods")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication methods of the revocation endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// Client authentication methods of the introspection endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// Algorithms of `private_key_jwt` assertions the token endpoint accepts (OpenID Connect
    /// Discovery 1.0 §3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens are sent to clients.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_supported: bool,
    /// OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry `sid`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_supported: bool,
    /// OpenID Connect Discovery 1.0 §3: whether `request` is supported (stated, since a missing
    /// member means false but clients differ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameter_supported: Option<bool>,
    /// OpenID Connect Discovery 1.0 §3: whether `request_uri` is supported (stated: a missing
    /// member means true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_uri_parameter_supported: Option<bool>,
    /// OpenID Connect Discovery 1.0 §3: whether a `request_uri` must have been registered in
    /// the client's `request_uris`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_request_uri_registration: bool,
    /// Algorithms request objects may be signed with (RFC 9101 §9.1, OpenID Connect Discovery
    /// 1.0 §3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_object_signing_alg_values_supported: Vec<String>,
    /// PKCE methods (RFC 7636).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    /// URL of the pushed authorization request endpoint (RFC 9126 §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// URL of the dynamic client registration endpoint (RFC 8414 §2, RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    /// Whether a `client_id` may be the URL of a Client ID Metadata Document
    /// (draft-ietf-oauth-client-id-metadata-document §6).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_id_metadata_document_supported: bool,
    /// URL of the device authorization endpoint (RFC 8628 §4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// Whether only pushed authorization requests are taken (RFC 9126 §5).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// Algorithms of DPoP proofs the token endpoint accepts (RFC 9449 §5.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// OpenID Connect subject identifier types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_types_supported: Vec<String>,
    /// Id token signing algorithms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Algorithms access tokens may be signed with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// Claims the server can return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_supported: Vec<String>,
    /// `prompt` values understood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_values_supported: Vec<String>,
    /// Authentication context classes `acr_values` may ask for (OpenID Connect Discovery §3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_values_supported: Vec<String>,
    /// RFC 9207: authorization responses carry `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_members_left_out_mean_what_rfc_8414_says() {
        let minimal = r#"{"issuer":"https://idp.example","token_endpoint":"https://idp.example/token",
            "jwks_uri":"https://idp.example/jwks","response_types_supported":["code"]}"#;
        let metadata: ProviderMetadata = serde_json::from_str(minimal).expect("parsed");
        assert_eq!(
            metadata.grant_types_supported,
            ["authorization_code", "implicit"]
        );
        assert_eq!(
            metadata.token_endpoint_auth_methods_supported,
            ["client_secret_basic"]
        );
        assert!(serde_json::from_str::<ProviderMetadata>(r#"{"issuer":"x"}"#).is_err());
    }
}
