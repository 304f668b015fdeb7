//! The auth server's HTTP routes.

mod discovery;
mod health;
mod jwks;
mod token;

use crate::state::AppState;
use crate::{metrics, request_id};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};

/// Path of the JWK Set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/token";

/// Token requests are small; anything larger is refused before parsing.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// The complete auth server application.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(JWKS_PATH, get(jwks::jwks))
        .route(
            TOKEN_PATH,
            post(token::token).layer(DefaultBodyLimit::max(TOKEN_BODY_LIMIT)),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track_requests,
        ))
        .layer(middleware::from_fn(request_id::assign_request_id))
        .with_state(state)
}

async fn not_found() -> (StatusCode, axum::Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
}
