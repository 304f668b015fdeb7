//! `POST /token` (RFC 6749 §3.2).

use crate::state::AppState;
use crate::token_request;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Issues a token or an RFC 6749 §5.2 error.
pub(super) async fn token(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut response =
        match token_request::handle_token_request(&state, &headers, remote_addr, &body).await {
            // RFC 6749 §5.1: responses carrying tokens must not be cached.
            Ok(response) => (
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::PRAGMA, "no-cache"),
                ],
                Json(response),
            )
                .into_response(),
            Err(error) => {
                state.metrics.token_failed(error.code.as_str());
                error.into_response()
            }
        };
    // RFC 9449 §8: with nonces required, every answer hands out the current one (on
    // `use_dpop_nonce`, the one to retry with; otherwise, the next to use).
    if let Some(nonces) = &state.dpop_nonces
        && let Ok(nonce) = HeaderValue::from_str(&nonces.current(state.clock.now()))
    {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}
