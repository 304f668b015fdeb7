//! Dynamic client registration (RFC 7591 §3): `POST /oauth/register`; and its management
//! (RFC 7592 §2) at `/oauth/register/{client_id}` with the registration access token: `GET`
//! reads, `PUT` replaces, `DELETE` removes.

use super::paths;
use crate::admin_api::access::{Capability, capability};
use crate::bearer::bearer_token;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::client_metadata::{ClientMetadata, DynamicRegistrationMode};
use portcullis_core::{AuthenticationMethod, Client, ScopeSet};
use portcullis_service::client_registration::{RegistrationRefusal, SelfRegistered};
use portcullis_types::GrantType;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;

/// The scope of an initial access token (RFC 7591 §3) in `token` mode.
pub const REGISTER_SCOPE: &str = "portcullis:register";

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3).
#[derive(Debug, Serialize)]
struct ClientInformation {
    client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    client_id_issued_at: i64,
    /// 0: the secret does not expire (present whenever a secret is).
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
    registration_access_token: String,
    registration_client_uri: String,
    token_endpoint_auth_method: &'static str,
    grant_types: Vec<&'static str>,
    response_types: Vec<&'static str>,
    redirect_uris: Vec<String>,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<Value>,
    dpop_bound_access_tokens: bool,
    require_pushed_authorization_requests: bool,
}

impl ClientInformation {
    fn of(state: &AppState, client: &Client, secret: Option<String>, token: &str) -> Self {
        let has_code = client.allows_grant(GrantType::AuthorizationCode);
        ClientInformation {
            client_id: client.id.clone(),
            client_secret_expires_at: secret.as_ref().map(|_| 0),
            client_secret: secret,
            client_id_issued_at: client.created_at,
            registration_access_token: token.to_owned(),
            registration_client_uri: client_uri(state, &client.id),
            token_endpoint_auth_method: match client.authentication_method() {
                AuthenticationMethod::ClientSecret => "client_secret_basic",
                AuthenticationMethod::PrivateKeyJwt => "private_key_jwt",
                AuthenticationMethod::None => "none",
            },
            grant_types: client
                .grant_types
                .iter()
                .map(|grant| grant.as_str())
                .collect(),
            response_types: if has_code { vec!["code"] } else { Vec::new() },
            redirect_uris: client.redirect_uris.clone(),
            scope: client.scopes.to_string(),
            client_name: client.client_name.clone(),
            jwks: client
                .keys
                .as_ref()
                .and_then(portcullis_core::ClientKeys::inline_set)
                .and_then(|set| serde_json::to_value(set).ok()),
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
        }
    }
}

/// `registration_client_uri` of `client_id` (RFC 7592 §3); ids are URL-safe characters only.
fn client_uri(state: &AppState, client_id: &str) -> String {
    format!(
        "{}/{client_id}",
        state.settings.endpoint(paths::CLIENT_REGISTRATION)
    )
}

/// `POST /oauth/register`: 201 with the client information, or an RFC 7591 §3.2.2 error.
pub(super) async fn register(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if state.settings.client_registration.mode == DynamicRegistrationMode::Off {
        return not_enabled();
    }
    let Some(metadata) = metadata(&headers, &body) else {
        return malformed();
    };
    let authorized = match bearer_token(&headers) {
        Some(token) => initial_token_allows(&state, token).await,
        None => false,
    };
    let client_ip = crate::client_ip::client_ip(&state, &headers, remote_addr);
    match state
        .client_self_registration()
        .register(&metadata, client_ip, authorized)
        .await
    {
        Ok(SelfRegistered {
            client,
            secret,
            registration_access_token,
        }) => {
            let token = registration_access_token.unwrap_or_default();
            answer(
                StatusCode::CREATED,
                &ClientInformation::of(&state, &client, secret, &token),
            )
        }
        Err(refusal) => refused(&refusal),
    }
}

/// `GET /oauth/register/{client_id}` (RFC 7592 §2.1).
pub(super) async fn read(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = match management_token(&state, &headers) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    let read = state
        .client_self_registration()
        .read(&client_id, token)
        .await;
    current(&state, read, token)
}

/// `PUT /oauth/register/{client_id}` (RFC 7592 §2.2).
pub(super) async fn update(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match management_token(&state, &headers) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    let Some(metadata) = metadata(&headers, &body) else {
        return malformed();
    };
    let client_ip = crate::client_ip::client_ip(&state, &headers, remote_addr);
    let updated = state
        .client_self_registration()
        .update(&client_id, token, &metadata, client_ip)
        .await;
    current(&state, updated, token)
}

/// `DELETE /oauth/register/{client_id}` (RFC 7592 §2.3): 204.
pub(super) async fn delete(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = match management_token(&state, &headers) {
        Ok(token) => token,
        Err(response) => return *response,
    };
    let client_ip = crate::client_ip::client_ip(&state, &headers, remote_addr);
    match state
        .client_self_registration()
        .delete(&client_id, token, client_ip)
        .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(refusal) => refused(&refusal),
    }
}

/// The registration access token of a management request (RFC 7592 §3), or the answer when
/// there is nothing to manage: registration off, or no token.
fn management_token<'h>(
    state: &AppState,
    headers: &'h HeaderMap,
) -> Result<&'h str, Box<Response>> {
    if state.settings.client_registration.mode == DynamicRegistrationMode::Off {
        return Err(Box::new(not_enabled()));
    }
    bearer_token(headers).ok_or_else(|| Box::new(refused(&RegistrationRefusal::InvalidToken)))
}

/// The client's current registration (RFC 7592 §3), or the refusal.
fn current(state: &AppState, result: Result<Client, RegistrationRefusal>, token: &str) -> Response {
    match result {
        Ok(client) => answer(
            StatusCode::OK,
            &ClientInformation::of(state, &client, None, token),
        ),
        Err(refusal) => refused(&refusal),
    }
}

/// Whether `token` is an initial access token (RFC 7591 §3): a valid, unrevoked bearer access
/// token of this issuer for the issuer, with scope `portcullis:register` (a client's, or a
/// user's), or an administrator's.
async fn initial_token_allows(state: &AppState, token: &str) -> bool {
    let inspector = state.inspector();
    let Ok(validated) = inspector.validate_bearer_token(token, Some(state.settings.issuer()))
    else {
        return false;
    };
    if !matches!(inspector.is_revoked(&validated.claims).await, Ok(false)) {
        return false;
    }
    let scope = validated
        .claims
        .get("scope")
        .and_then(Value::as_str)
        .and_then(|scope| ScopeSet::parse(scope).ok())
        .unwrap_or_default();
    scope.contains(REGISTER_SCOPE) || capability(&validated.claims) == Some(Capability::Write)
}

/// The request's metadata: a JSON object, sent as `application/json` (RFC 7591 §3.1; which
/// also keeps plain cross-site forms out).
fn metadata(headers: &HeaderMap, body: &[u8]) -> Option<ClientMetadata> {
    if crate::media_type::media_type(headers) != "application/json" {
        return None;
    }
    serde_json::from_slice::<ClientMetadata>(body).ok()
}

/// The answer to a body that is no JSON object of client metadata.
fn malformed() -> Response {
    super::error_json(
        StatusCode::BAD_REQUEST,
        "invalid_client_metadata",
        "the body must be a JSON object of client metadata (RFC 7591 §2), sent as application/json",
    )
}

fn answer(status: StatusCode, information: &ClientInformation) -> Response {
    // RFC 7591 §3.2.1: the response carries secrets; not cached.
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(information),
    )
        .into_response()
}

fn refused(refusal: &RegistrationRefusal) -> Response {
    match refusal {
        RegistrationRefusal::Disabled => not_enabled(),
        RegistrationRefusal::Metadata(error) => {
            super::error_json(StatusCode::BAD_REQUEST, error.code(), &error.to_string())
        }
        RegistrationRefusal::InitialTokenRequired | RegistrationRefusal::InvalidToken => {
            let mut response = super::error_json(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                &refusal.to_string(),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            response
        }
        RegistrationRefusal::TooMany => super::too_many_requests(&refusal.to_string()),
        RegistrationRefusal::Randomness | RegistrationRefusal::Store(_) => {
            tracing::error!(%refusal, "client registration failed");
            super::error_json(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server is temporarily unavailable",
            )
        }
    }
}

fn not_enabled() -> Response {
    super::error_json(
        StatusCode::NOT_FOUND,
        "not_found",
        "dynamic client registration is not enabled",
    )
}
