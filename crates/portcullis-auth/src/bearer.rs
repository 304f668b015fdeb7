//! Bearer tokens in requests (RFC 6750 §2.1). Checking them is the service layer's
//! ([`portcullis_service::TokenInspector`]).

use axum::http::{HeaderMap, header};

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
