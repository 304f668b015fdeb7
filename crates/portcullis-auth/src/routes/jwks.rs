//! The JWK Set (RFC 7517 §5): pending, active and recently retired public keys.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// The published keys, cacheable for `jwks_max_age_secs`. The pre-publication period is
/// validated to exceed that age, so a cached copy always knows the next signing key.
pub(super) async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let cache_control = format!("public, max-age={}", state.settings.jwks_max_age_secs);
    (
        [
            (header::CACHE_CONTROL, cache_control),
            (header::CONTENT_TYPE, "application/jwk-set+json".to_owned()),
        ],
        Json(state.keys.jwks(state.clock.now())),
    )
}
