//! The media type of a message: its `Content-Type` without parameters, in lower case (RFC 9110
//! §8.3.1: the type and subtype are case-insensitive).

use axum::http::{HeaderMap, header};

/// The media type `headers` name, or the empty string when there is none.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}
