//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/openid-configuration`
//! (OpenID Connect Discovery 1.0 §4). Only implemented features are listed.

use super::{JWKS_PATH, TOKEN_PATH};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use portcullis_jose::Algorithm;
use portcullis_types::{GrantType, ProviderMetadata};

/// The metadata document.
pub(super) async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let settings = &state.settings;
    let metadata = ProviderMetadata {
        // RFC 8414 §3.3: the issuer in the metadata must be identical to the issuer identifier.
        issuer: settings.issuer().to_owned(),
        token_endpoint: settings.endpoint(TOKEN_PATH),
        jwks_uri: settings.endpoint(JWKS_PATH),
        response_types_supported: Vec::new(),
        grant_types_supported: vec![GrantType::ClientCredentials.as_str().to_owned()],
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic".to_owned(),
            "client_secret_post".to_owned(),
        ],
        access_token_signing_alg_values_supported: Algorithm::ALL
            .iter()
            .filter(|alg| **alg == settings.access_token_algorithm)
            .map(|alg| alg.as_str().to_owned())
            .collect(),
    };
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(metadata),
    )
}
