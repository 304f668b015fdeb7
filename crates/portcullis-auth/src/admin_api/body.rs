//! Reading admin API request bodies and queries, with failures in the API's own error format
//! naming the field at fault.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, Query, Request};
use serde::de::DeserializeOwned;

/// Bodies are JSON documents of at most this size (an apply of a few thousand objects fits).
const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON request body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if crate::media_type::media_type(request.headers()) != "application/json" {
            return Err(ApiError::invalid(
                "content-type",
                "the body must be application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::invalid("body", rejection.body_text()))?;
        if bytes.len() > BODY_LIMIT {
            return Err(ApiError::invalid("body", "the body is too large"));
        }
        let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(&mut deserializer)
            .map(ApiJson)
            .map_err(|error| {
                let path = error.path().to_string();
                let message = error.into_inner().to_string();
                ApiError::invalid(field_at_fault(&path, &message), message)
            })
    }
}

/// The field a deserialization error is about: its path, or for a missing field (reported at
/// the enclosing object) that path and the name serde quotes.
fn field_at_fault(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

/// The query string, or an `invalid` error naming it.
///
/// # Errors
/// An [`ApiError`] when the query does not parse.
pub fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(query)| query)
        .map_err(|rejection| ApiError::invalid("query", rejection.body_text()))
}
