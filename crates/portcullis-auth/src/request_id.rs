//! Request ids and the access log. Every request runs in a span carrying its id, so every log line
//! it causes can be correlated; the id is returned in `X-Request-Id`. Only the path is logged,
//! never the query string or headers, which may carry credentials.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::Instrument;

/// The request id header.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// An incoming id is kept only if it is short and plain, so it cannot inject into logs.
fn is_well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte))
}

fn generate() -> String {
    let mut bytes = [0u8; 12];
    match portcullis_jose::random_bytes(&mut bytes) {
        Ok(()) => portcullis_jose::base64url::encode(bytes),
        Err(_) => "unavailable".to_owned(),
    }
}

/// Middleware: assigns the request id, logs one access line per request.
pub async fn assign_request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_well_formed(value))
        .map_or_else(generate, str::to_owned);
    let span = tracing::info_span!("request", request_id = %id);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            %method,
            %path,
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_kept() {
        assert!(is_well_formed("abc-123_X.y"));
        assert!(!is_well_formed(""));
        assert!(!is_well_formed("a b"));
        assert!(!is_well_formed("line\nbreak"));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert_ne!(generate(), generate());
    }
}
