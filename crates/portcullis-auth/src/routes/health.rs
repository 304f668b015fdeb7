//! `/healthz` (the process runs), `/readyz` (it can serve: store reachable, signing key present)
//! and `/metrics`, served on the admin listener (health also on the public one).

use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers and a key signs. A stuck email outbox (its oldest message
/// waiting longer than `email.stuck_after_secs`) is reported in the body but keeps the server
/// ready: it still signs people in and issues tokens, and pulling it from a load balancer would
/// not deliver the mail.
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if let Err(error) = state.store.ping().await {
        tracing::warn!(%error, "not ready: store unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "store unreachable".to_owned(),
        );
    }
    let now = state.clock.now();
    if state
        .keys
        .signer(state.settings.access_token_algorithm, now)
        .is_none()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no active signing key".to_owned(),
        );
    }
    let Some(email) = &state.email else {
        return (StatusCode::OK, "ready".to_owned());
    };
    match state.store.outbox_status().await {
        Ok(status) if status.is_stuck(now, email.stuck_after_secs) => {
            let waited = status.oldest_created_at.map_or(0, |created| now - created);
            (
                StatusCode::OK,
                format!(
                    "ready; email outbox stuck: {} message(s) waiting, the oldest for {waited} s",
                    status.pending
                ),
            )
        }
        Ok(_) => (StatusCode::OK, "ready".to_owned()),
        Err(error) => {
            tracing::warn!(%error, "not ready: email outbox unreadable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unreachable".to_owned(),
            )
        }
    }
}

/// The public listener's `/readyz`: the same status, without details such as the outbox's
/// backlog, which are for operators on the admin listener.
pub(crate) async fn public_readyz(state: State<AppState>) -> (StatusCode, &'static str) {
    let (status, _) = readyz(state).await;
    let text = if status.is_success() {
        "ready"
    } else {
        "not ready"
    };
    (status, text)
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
