//! `POST /login`: direct sign-in for a configured first-party app, with a JSON body
//! `{"username", "password"}`. It skips the consent and redirect protections of the code flow, so
//! it is off unless `auth.direct_login_client` names the client it issues tokens to.
//!
//! Login CSRF: a cross-site form can post `text/plain`, `application/x-www-form-urlencoded` or
//! `multipart/form-data`, never `application/json` without a CORS preflight (which this server
//! never grants), so only `application/json` is accepted; and a browser's `Origin` (or, without
//! one, `Sec-Fetch-Site: cross-site`) must name the issuer or a configured origin.

use super::sign_in::with_cookie;
use crate::browser_session;
use crate::client_ip::client_ip;
use crate::error::OAuthError;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::email_verification::sign_in_needs_verification;
use portcullis_core::{Acr, AuditEvent, AuthMethods, Client, User};
use portcullis_service::credentials::{Attempt, SignInFailure};
use portcullis_service::{FactorError, StoreError};
use serde::Deserialize;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
    /// The code of the user's authenticator app (or a recovery code), when they have one.
    #[serde(default)]
    otp: Option<String>,
}

fn json_error(status: StatusCode, error: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error })),
    )
        .into_response()
}

/// Why a request may be a cross-site forgery, answered before anything is checked.
fn cross_site_refusal(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim);
    if !media_type.is_some_and(|media_type| media_type.eq_ignore_ascii_case("application/json")) {
        return Some(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
        ));
    }
    let forged = match headers.get(header::ORIGIN) {
        Some(origin) => !origin
            .to_str()
            .is_ok_and(|origin| allowed_origin(state, origin)),
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site")),
    };
    forged.then(|| json_error(StatusCode::FORBIDDEN, "invalid_origin"))
}

/// Whether a page at `origin` may call `POST /login`: the issuer's own origin or a configured one.
fn allowed_origin(state: &AppState, origin: &str) -> bool {
    let issuer_origin = crate::origin::origin_of(state.settings.issuer());
    issuer_origin.as_deref() == Some(origin)
        || state
            .settings
            .sign_in
            .direct_login_origins
            .iter()
            .any(|allowed| allowed == origin)
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
    if !state.settings.federation.local_sign_in {
        return json_error(StatusCode::FORBIDDEN, "password_sign_in_disabled");
    }
    if let Some(refusal) = cross_site_refusal(&state, &headers) {
        return refusal;
    }
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
    let client_address = client_ip(&state, &headers, remote_addr);
    let attempt = Attempt {
        username: &credentials.username,
        password: &credentials.password,
        client: client_address,
        now,
    };
    let user = match state
        .credentials
        .verify(
            state.store.as_ref(),
            state.sign_in_throttle.as_ref(),
            attempt,
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
                // Admission control: refused at once, nothing counted; retry shortly.
                SignInFailure::Busy => {
                    let mut busy =
                        json_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
                    busy.headers_mut().insert(
                        header::RETRY_AFTER,
                        axum::http::HeaderValue::from_static("1"),
                    );
                    return busy;
                }
            };
            state.audit.record(&AuditEvent::SignIn {
                username: credentials.username,
                success: false,
                reason: Some(reason.to_owned()),
                remote_addr: Some(client_address.to_string()),
            });
            let error = if status == StatusCode::UNAUTHORIZED {
                "invalid_credentials"
            } else {
                "too_many_attempts"
            };
            return json_error(status, error);
        }
    };
    if sign_in_needs_verification(state.settings.registration.require_verified_email, &user) {
        state.audit.record(&AuditEvent::SignIn {
            username: credentials.username,
            success: false,
            reason: Some("email not verified".to_owned()),
            remote_addr: Some(client_address.to_string()),
        });
        return json_error(StatusCode::FORBIDDEN, "email_not_verified");
    }
    let amr = match second_factor(
        &state,
        &user,
        &client,
        credentials.otp.as_deref(),
        client_address,
    )
    .await
    {
        Ok(amr) => amr,
        Err(refusal) => return refusal,
    };
    let (session, cookie) = match browser_session::start(&state, &headers, &user, amr, None).await {
        Ok(started) => started,
        Err(error) => return OAuthError::from_store(&error).into_response(),
    };
    state.audit.record(&AuditEvent::SignIn {
        username: user.username.to_string(),
        success: true,
        reason: None,
        remote_addr: Some(client_address.to_string()),
    });
    let issued = state
        .token_issuer()
        .issue_direct(&client, &user, &session)
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
        Err(error) => OAuthError::from(error).into_response(),
    }
}

/// The methods of a direct sign-in whose password was right: with the app's code when the user
/// has an app (required then), refused when a second factor is required and the user has none
/// (it is set up through the sign-in page).
async fn second_factor(
    state: &AppState,
    user: &User,
    client: &Client,
    otp: Option<&str>,
    address: IpAddr,
) -> Result<AuthMethods, Response> {
    let factors = state.second_factors();
    let unavailable = |error: &StoreError| OAuthError::from_store(error).into_response();
    if !factors
        .has_second_factor(user)
        .await
        .map_err(|error| unavailable(&error))?
    {
        let required =
            state
                .settings
                .sign_in
                .mfa
                .required_acr(&user.roles, client.require_mfa, None);
        return if required >= Acr::MultiFactor {
            Err(json_error(StatusCode::FORBIDDEN, "mfa_enrollment_required"))
        } else {
            Ok(AuthMethods::password())
        };
    }
    let Some(code) = otp else {
        return Err(json_error(
            StatusCode::UNAUTHORIZED,
            "second_factor_required",
        ));
    };
    match factors
        .verify(user, code, address, state.factor_notice())
        .await
    {
        Ok(method) => Ok(AuthMethods::password().with(&[method])),
        Err(FactorError::Store(error)) => Err(unavailable(&error)),
        Err(error) => {
            let (status, code, reason) = match error {
                FactorError::Locked => {
                    (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", "locked")
                }
                FactorError::Blocked => (
                    StatusCode::FORBIDDEN,
                    "second_factor_blocked",
                    "second factor blocked",
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    "invalid_second_factor",
                    "wrong second factor",
                ),
            };
            state.audit.record(&AuditEvent::SignIn {
                username: user.username.to_string(),
                success: false,
                reason: Some(reason.to_owned()),
                remote_addr: Some(address.to_string()),
            });
            Err(json_error(status, code))
        }
    }
}
