//! The admin API's error type: its own JSON, not the OAuth error format, so a tool can tell an
//! invalid field from a missing object without parsing prose.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::{AdminError, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// An admin API error body: `{"error": "...", "message": "...", "field": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// One of `unauthorized`, `forbidden`, `not_found`, `conflict`, `invalid`, `unavailable`,
    /// `internal`.
    pub error: &'static str,
    /// What went wrong, for the operator.
    pub message: String,
    /// The request field at fault, for `invalid` (a path such as `roles[1]` in a JSON body).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer of the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    body: ApiErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ApiErrorBody {
                error,
                message: message.into(),
                field: None,
            },
        }
    }

    /// 401: no valid admin token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: a valid token without the scope or role for this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 400 naming the field at fault.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::BAD_REQUEST, "invalid", message);
        error.body.field = Some(field.into());
        error
    }

    /// 409: the request cannot be done in the current state (a limit reached, a setting of the
    /// server that forbids it).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A store failure: logged in full, answered generically.
    pub fn store(error: &StoreError) -> Self {
        tracing::error!(%error, "store error in the admin API");
        match error {
            StoreError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store is temporarily unavailable",
            ),
            _ => Self::internal(),
        }
    }

    /// 500 without details.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.body.field {
            Some(field) => write!(formatter, "{} (field `{field}`)", self.body.message),
            None => formatter.write_str(&self.body.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match &error {
            AdminError::NotFound { .. } => Self::not_found(error.to_string()),
            AdminError::Conflict(_) => Self::conflict(error.to_string()),
            AdminError::Invalid { field, message } => Self::invalid(*field, message.clone()),
            AdminError::Store(store) => Self::store(store),
            AdminError::Internal(what) => {
                tracing::error!(what, "admin action failed");
                Self::internal()
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::store(&error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // RFC 6750 §3: a 401 names the Bearer scheme; §3.1: a 403 for a missing scope says so.
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    r#"Bearer realm="portcullis-admin", error="invalid_token""#,
                ),
            );
        } else if self.status == StatusCode::FORBIDDEN {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    r#"Bearer realm="portcullis-admin", error="insufficient_scope", scope="portcullis:admin""#,
                ),
            );
        }
        response
    }
}
