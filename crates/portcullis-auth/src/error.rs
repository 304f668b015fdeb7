//! OAuth error responses (RFC 6749 §5.2): JSON, `Cache-Control: no-store`, and for client
//! authentication failures 401 with `WWW-Authenticate`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::GrantError;
use portcullis_service::{StoreError, TokenError};
use portcullis_types::{OAuthErrorBody, OAuthErrorCode};

/// An error to return from an OAuth endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The error code.
    pub code: OAuthErrorCode,
    /// `error_description`: for the client developer, never internals.
    pub description: Option<String>,
}

impl OAuthError {
    /// An error with a description.
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: Some(description.into()),
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`; the description is the same for every cause so it reveals nothing.
    pub fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        )
    }

    /// A store failure: logged in full, returned generically (503 when retrying may help).
    pub fn from_store(error: &StoreError) -> Self {
        tracing::error!(%error, "store error");
        match error {
            StoreError::Unavailable(_) => Self::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the server is temporarily unavailable",
            ),
            _ => Self::new(OAuthErrorCode::ServerError, "internal error"),
        }
    }

    fn status(&self) -> StatusCode {
        match self.code {
            OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            OAuthErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<TokenError> for OAuthError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Refused { code, description } => OAuthError::new(code, description),
            TokenError::InvalidClient => OAuthError::invalid_client(),
            TokenError::Store(error) => OAuthError::from_store(&error),
            TokenError::Internal(_) => {
                OAuthError::new(OAuthErrorCode::ServerError, "internal error")
            }
        }
    }
}

impl From<GrantError> for OAuthError {
    fn from(error: GrantError) -> Self {
        OAuthError::new(error.code(), error.to_string())
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = OAuthErrorBody {
            error: self.code,
            error_description: self.description,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        // RFC 6749 §5.1/§5.2: token endpoint responses must not be cached.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 for invalid_client MUST carry WWW-Authenticate with the
            // scheme the client may use.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="portcullis", charset="UTF-8""#),
            );
        }
        response
    }
}
