//! `/healthz` (the process runs), `/readyz` (it can serve: store reachable, signing key present)
//! and `/metrics`, served on the admin listener (health also on the public one).

use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if let Err(error) = state.store.ping().await {
        tracing::warn!(%error, "not ready: store unreachable");
        return (StatusCode::SERVICE_UNAVAILABLE, "store unreachable");
    }
    let now = state.clock.now();
    if state
        .keys
        .signer(state.settings.access_token_algorithm, now)
        .is_none()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "no active signing key");
    }
    (StatusCode::OK, "ready")
}

pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
