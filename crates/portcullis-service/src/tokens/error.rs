//! Why a token request was not answered with tokens.

use crate::StoreError;
use portcullis_core::GrantError;
use portcullis_types::OAuthErrorCode;
use thiserror::Error;

/// A token request refused or failed; the HTTP edge maps it to an RFC 6749 §5.2 response.
#[derive(Debug, Error)]
pub enum TokenError {
    /// Refused under the protocol: the client gets `code` with `description`.
    #[error("{description}")]
    Refused {
        /// The OAuth error code.
        code: OAuthErrorCode,
        /// `error_description`: for the client developer, never internals.
        description: String,
    },
    /// The client failed to authenticate (always answered with the same `invalid_client`).
    #[error("client authentication failed")]
    InvalidClient,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something the server needs is missing or broken (no signing key, no randomness).
    #[error("cannot issue tokens: {0}")]
    Internal(&'static str),
}

impl TokenError {
    /// A refusal with `code`.
    pub fn refused(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        TokenError::Refused {
            code,
            description: description.into(),
        }
    }

    /// `invalid_grant` (RFC 6749 §5.2).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::refused(OAuthErrorCode::InvalidGrant, description)
    }

    /// The OAuth error code the client sees.
    pub fn code(&self) -> OAuthErrorCode {
        match self {
            TokenError::Refused { code, .. } => *code,
            TokenError::InvalidClient => OAuthErrorCode::InvalidClient,
            TokenError::Store(StoreError::Unavailable(_)) => OAuthErrorCode::TemporarilyUnavailable,
            TokenError::Store(_) | TokenError::Internal(_) => OAuthErrorCode::ServerError,
        }
    }
}

impl From<GrantError> for TokenError {
    fn from(error: GrantError) -> Self {
        TokenError::refused(error.code(), error.to_string())
    }
}
