//! Authentication and authorization failures, answered per RFC 6750 §3.

use thiserror::Error;

/// Why a request may not proceed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// No bearer token: 401 without an error code (RFC 6750 §3.1).
    #[error("an access token is required")]
    MissingToken,
    /// A malformed `Authorization` header: 400 `invalid_request`.
    #[error("malformed Authorization header")]
    MalformedRequest,
    /// The token is not valid: 401 `invalid_token`.
    #[error("{0}")]
    InvalidToken(String),
    /// A scope is missing: 403 `insufficient_scope` with the scope(s) needed.
    #[error("the token lacks a required scope")]
    InsufficientScope(String),
    /// A role is missing: 403.
    #[error("a required role is missing")]
    MissingRole,
    /// The DPoP proof of a bound token is missing, invalid, for another key or request, or
    /// replayed: 401 `invalid_dpop_proof` with a DPoP challenge (RFC 9449 §7.1).
    #[error("{0}")]
    InvalidDpopProof(String),
    /// The user did not authenticate strongly or recently enough: 401
    /// `insufficient_user_authentication` with what to ask for (RFC 9470 §3).
    #[error("a stronger or more recent sign-in is required")]
    InsufficientUserAuthentication {
        /// `acr_values` for the new authorization request.
        acr_values: Option<String>,
        /// `max_age` for the new authorization request.
        max_age: Option<i64>,
    },
    /// The issuer's keys could not be obtained: 503, not the caller's fault.
    #[error("token keys are not available yet")]
    Unavailable,
}

impl AuthError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::InvalidDpopProof(_)
            | AuthError::InsufficientUserAuthentication { .. } => 401,
            AuthError::MalformedRequest => 400,
            AuthError::InsufficientScope(_) | AuthError::MissingRole => 403,
            AuthError::Unavailable => 503,
        }
    }

    /// The `WWW-Authenticate` challenge, if the status calls for one.
    pub fn challenge(&self) -> Option<String> {
        let clean = |value: &str| {
            value
                .chars()
                .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
                .collect::<String>()
        };
        match self {
            AuthError::MissingToken => Some("Bearer realm=\"portcullis\"".to_owned()),
            AuthError::MalformedRequest => {
                Some("Bearer realm=\"portcullis\", error=\"invalid_request\"".to_owned())
            }
            AuthError::InvalidToken(description) => Some(format!(
                "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{}\"",
                clean(description)
            )),
            AuthError::InsufficientScope(scope) => Some(format!(
                "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"{}\"",
                clean(scope)
            )),
            AuthError::MissingRole => {
                Some("Bearer realm=\"portcullis\", error=\"insufficient_scope\"".to_owned())
            }
            AuthError::InvalidDpopProof(description) => Some(format!(
                "DPoP error=\"invalid_dpop_proof\", error_description=\"{}\", algs=\"{}\"",
                clean(description),
                portcullis_jose::Algorithm::ALL
                    .map(|alg| alg.as_str())
                    .join(" ")
            )),
            // RFC 9470 §3.
            AuthError::InsufficientUserAuthentication {
                acr_values,
                max_age,
            } => {
                let mut challenge = format!(
                    "Bearer realm=\"portcullis\", error=\"insufficient_user_authentication\", \
                     error_description=\"{self}\""
                );
                if let Some(acr_values) = acr_values {
                    challenge.push_str(&format!(", acr_values=\"{}\"", clean(acr_values)));
                }
                if let Some(max_age) = max_age {
                    challenge.push_str(&format!(", max_age=\"{max_age}\""));
                }
                Some(challenge)
            }
            AuthError::Unavailable => None,
        }
    }

    /// The JSON error code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "unauthorized",
            AuthError::MalformedRequest => "invalid_request",
            AuthError::InvalidToken(_) => "invalid_token",
            AuthError::InvalidDpopProof(_) => "invalid_dpop_proof",
            AuthError::InsufficientScope(_) | AuthError::MissingRole => "insufficient_scope",
            AuthError::InsufficientUserAuthentication { .. } => "insufficient_user_authentication",
            AuthError::Unavailable => "temporarily_unavailable",
        }
    }
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for AuthError {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status())
            .unwrap_or(axum::http::StatusCode::UNAUTHORIZED);
        let body =
            serde_json::json!({ "error": self.code(), "error_description": self.to_string() });
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(challenge) = self
            .challenge()
            .and_then(|value| axum::http::HeaderValue::from_str(&value).ok())
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
