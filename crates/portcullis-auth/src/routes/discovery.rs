//! `/.well-known/oauth-authorization-server` (RFC 8414) and `/.well-known/openid-configuration`
//! (OpenID Connect Discovery 1.0 §4). Only implemented features are listed.

use super::paths;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use portcullis_core::Acr;
use portcullis_jose::Algorithm;
use portcullis_types::{GrantType, ProviderMetadata};

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

/// The metadata document.
pub(super) async fn metadata(State(state): State<AppState>) -> impl IntoResponse {
    let settings = &state.settings;
    let client_auth = strings(&[
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ]);
    let algorithms: Vec<String> = Algorithm::ALL
        .iter()
        .map(|alg| alg.as_str().to_owned())
        .collect();
    let metadata = ProviderMetadata {
        // RFC 8414 §3.3: the issuer in the metadata must be identical to the issuer identifier.
        issuer: settings.issuer().to_owned(),
        authorization_endpoint: Some(settings.endpoint(paths::AUTHORIZE)),
        token_endpoint: settings.endpoint(paths::TOKEN),
        userinfo_endpoint: Some(settings.endpoint(paths::USERINFO)),
        jwks_uri: settings.endpoint(paths::JWKS),
        revocation_endpoint: Some(settings.endpoint(paths::REVOKE)),
        introspection_endpoint: Some(settings.endpoint(paths::INTROSPECT)),
        end_session_endpoint: Some(settings.endpoint(paths::LOGOUT)),
        scopes_supported: strings(&["openid", "profile", "email", "offline_access"]),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: GrantType::ALL
            .iter()
            .map(|grant| grant.as_str().to_owned())
            .collect(),
        token_endpoint_auth_methods_supported: client_auth.clone(),
        revocation_endpoint_auth_methods_supported: client_auth.clone(),
        introspection_endpoint_auth_methods_supported: client_auth,
        token_endpoint_auth_signing_alg_values_supported: algorithms.clone(),
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        request_parameter_supported: Some(true),
        // `none` too: taken from a client an administrator registered for unsigned objects.
        request_object_signing_alg_values_supported: algorithms
            .iter()
            .cloned()
            .chain(["none".to_owned()])
            .collect(),
        request_uri_parameter_supported: Some(true),
        require_request_uri_registration: true,
        code_challenge_methods_supported: strings(&["S256"]),
        pushed_authorization_request_endpoint: Some(settings.endpoint(paths::PAR)),
        device_authorization_endpoint: Some(settings.endpoint(paths::DEVICE_AUTHORIZATION)),
        registration_endpoint: (settings.client_registration.mode
            != portcullis_core::client_metadata::DynamicRegistrationMode::Off)
            .then(|| settings.endpoint(paths::CLIENT_REGISTRATION)),
        client_id_metadata_document_supported: settings.client_registration.metadata_documents,
        require_pushed_authorization_requests: settings.require_pushed_authorization_requests,
        dpop_signing_alg_values_supported: algorithms.clone(),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: algorithms,
        access_token_signing_alg_values_supported: vec![
            settings.access_token_algorithm.as_str().to_owned(),
        ],
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "at_hash",
            "sid",
            "preferred_username",
            "name",
            "email",
            "email_verified",
        ]),
        prompt_values_supported: strings(&["none", "login", "consent"]),
        acr_values_supported: Acr::ALL.iter().map(|acr| acr.as_str().to_owned()).collect(),
        authorization_response_iss_parameter_supported: true,
    };
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(metadata),
    )
}
