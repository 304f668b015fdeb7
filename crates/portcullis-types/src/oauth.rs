//! Token endpoint responses and error codes (RFC 6749 §5, RFC 6750 §3.1, RFC 8707 §2).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A successful access token response (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token; for Portcullis a JWT per RFC 9068.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// The granted scope, space-delimited (RFC 6749 §3.3). Always sent, even when equal to the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A refresh token, for grants that issue one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An OpenID Connect id token, when `openid` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: the type of the token issued by a token exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<String>,
}

/// The error codes of the OAuth 2.0 family that Portcullis returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// RFC 6749 §5.2: malformed request.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: the grant is invalid, expired, revoked or mismatched.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid or exceeds what the client may ask.
    InvalidScope,
    /// RFC 8707 §2: the requested resource or audience is invalid or not allowed.
    InvalidTarget,
    /// RFC 6750 §3.1: the access token is invalid.
    InvalidToken,
    /// RFC 6750 §3.1: the access token lacks the scope the resource requires.
    InsufficientScope,
    /// RFC 6749 §4.1.2.1: the server met an unexpected condition.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request.
    TemporarilyUnavailable,
    /// RFC 9449 §5: the DPoP proof is invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the DPoP proof must carry the server's nonce (given in `DPoP-Nonce`).
    UseDpopNonce,
    /// RFC 9101 §6.3: the request object is invalid.
    InvalidRequestObject,
    /// RFC 8628 §3.5: the user has not yet decided; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: poll less often (the interval grows by 5 seconds).
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
    /// RFC 8628 §3.5: the user denied the request.
    AccessDenied,
}

impl OAuthErrorCode {
    /// The registered error code string.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::InvalidToken => "invalid_token",
            OAuthErrorCode::InsufficientScope => "insufficient_scope",
            OAuthErrorCode::ServerError => "server_error",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            OAuthErrorCode::UseDpopNonce => "use_dpop_nonce",
            OAuthErrorCode::InvalidRequestObject => "invalid_request_object",
            OAuthErrorCode::AuthorizationPending => "authorization_pending",
            OAuthErrorCode::SlowDown => "slow_down",
            OAuthErrorCode::ExpiredToken => "expired_token",
            OAuthErrorCode::AccessDenied => "access_denied",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of an OAuth error response (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    /// The error code.
    pub error: OAuthErrorCode,
    /// Human-readable detail for the developer of the client; never secrets or internals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_registered_names() {
        let body = OAuthErrorBody {
            error: OAuthErrorCode::UnsupportedGrantType,
            error_description: None,
        };
        assert_eq!(
            serde_json::to_string(&body).ok().as_deref(),
            Some(r#"{"error":"unsupported_grant_type"}"#)
        );
        assert_eq!(
            serde_json::to_value(OAuthErrorCode::InvalidTarget).ok(),
            Some(serde_json::json!(OAuthErrorCode::InvalidTarget.as_str()))
        );
    }
}
