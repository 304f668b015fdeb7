//! `POST /login`: direct sign-in for a configured first-party app, with a JSON body
//! `{"username", "password"}`. It skips the consent and redirect protections of the code flow, so
//! it is off unless `auth.direct_login_client` names the client it issues tokens to.

use super::sign_in::with_cookie;
use crate::browser_session;
use crate::credentials::SignInFailure;
use crate::error::OAuthError;
use crate::state::AppState;
use crate::token_service::issuance;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::AuditEvent;
use portcullis_core::grant::{AccessGrant, UserContext};
use portcullis_types::GrantType;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

/// The `grant_type` under which `POST /login` tokens are audited and counted.
const DIRECT_LOGIN: &str = "direct_login";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error })),
    )
        .into_response()
}

pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(client_id) = state.settings.sign_in.direct_login_client.clone() else {
        return json_error(StatusCode::NOT_FOUND, "not_found");
    };
    let Ok(credentials) = serde_json::from_slice::<Credentials>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let client = match state.store.find_client(&client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => {
            tracing::error!(%client_id, "auth.direct_login_client names no registered client");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
        }
        Err(error) => return OAuthError::from_store(&error).into_response(),
    };
    let now = state.clock.now();
    let user = match state
        .credentials
        .verify(
            state.store.as_ref(),
            &credentials.username,
            &credentials.password,
            remote_addr.ip(),
            now,
        )
        .await
    {
        Ok(user) => user,
        Err(failure) => {
            let (reason, status) = match failure {
                SignInFailure::InvalidCredentials(reason) => (reason, StatusCode::UNAUTHORIZED),
                SignInFailure::Locked => ("locked", StatusCode::TOO_MANY_REQUESTS),
                SignInFailure::Store(error) => {
                    return OAuthError::from_store(&error).into_response();
                }
            };
            state.audit.record(&AuditEvent::SignIn {
                username: credentials.username,
                success: false,
                reason: Some(reason.to_owned()),
                remote_addr: Some(remote_addr.ip().to_string()),
            });
            let error = if status == StatusCode::UNAUTHORIZED {
                "invalid_credentials"
            } else {
                "too_many_attempts"
            };
            return json_error(status, error);
        }
    };
    let (session, cookie) = match browser_session::start(&state, &headers, &user).await {
        Ok(started) => started,
        Err(error) => return OAuthError::from_store(&error).into_response(),
    };
    state.audit.record(&AuditEvent::SignIn {
        username: user.username.to_string(),
        success: true,
        reason: None,
        remote_addr: Some(remote_addr.ip().to_string()),
    });
    let mut audiences = client.audiences.clone();
    audiences.push(state.settings.issuer().to_owned());
    audiences.sort();
    audiences.dedup();
    let grant = AccessGrant {
        grant_type: GrantType::AuthorizationCode,
        subject: user.id.clone(),
        client_id: client.id.clone(),
        scope: client.scopes.clone(),
        audiences,
        lifetime_secs: state.settings.token_policy.access_token_lifetime(&client),
        user: Some(UserContext {
            roles: user.roles.clone(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
        }),
    };
    let issued = async {
        // Audited as what it is, not as the code flow whose grant shape it borrows.
        let access = issuance::access_token_via(&state, &grant, DIRECT_LOGIN)?;
        let refresh_token = if issuance::wants_refresh_token(&client, &grant.scope) {
            Some(
                issuance::start_refresh_family(&state, &grant, &user.id, &access)
                    .await?
                    .0,
            )
        } else {
            None
        };
        Ok::<_, OAuthError>(issuance::response(access, refresh_token, None))
    }
    .await;
    match issued {
        Ok(tokens) => {
            let body = json!({
                "token": tokens.access_token,
                "token_type": tokens.token_type,
                "expires_in": tokens.expires_in,
                "refresh_token": tokens.refresh_token,
            });
            with_cookie(
                (
                    StatusCode::OK,
                    [(header::CACHE_CONTROL, "no-store")],
                    Json(body),
                )
                    .into_response(),
                cookie,
            )
        }
        Err(error) => error.into_response(),
    }
}
