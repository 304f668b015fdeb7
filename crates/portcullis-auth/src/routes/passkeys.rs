//! The JSON endpoints the pages' passkey script calls: registering a passkey from the account
//! page, signing in with one alone, and using one as the second factor. Each ceremony is two
//! calls (options, then the browser's response) and each is a same-origin JSON `POST`: a
//! cross-site form cannot send `application/json` without a preflight (never granted), and a
//! browser's `Origin` must be the issuer's, so none of them can be forged from another site.

use super::account;
use super::second_factor::{continue_to, pending_user, signed_in};
use super::sign_in::safe_return_to;
use crate::client_ip::client_ip;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::email_verification::sign_in_needs_verification;
use portcullis_core::{AuditEvent, AuthMethods, User};
use portcullis_service::{AccountChangeError, PasskeyError, Passkeys, StoreError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// The body of a ceremony's second call.
#[derive(Deserialize)]
struct Finish {
    state: String,
    credential: Value,
    #[serde(default)]
    name: String,
    #[serde(default)]
    return_to: String,
}

/// Audits a refused sign-in, as the password path does.
fn failed_sign_in(state: &AppState, username: &str, reason: &str, client: std::net::IpAddr) {
    state.audit.record(&AuditEvent::SignIn {
        username: username.to_owned(),
        success: false,
        reason: Some(reason.to_owned()),
        remote_addr: Some(client.to_string()),
    });
}

fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

fn unavailable(error: &StoreError) -> Response {
    tracing::error!(%error, "store error");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "The service is temporarily unavailable. Please try again.",
    )
}

fn refused(error: PasskeyError) -> Response {
    match error {
        PasskeyError::Store(error) => unavailable(&error),
        PasskeyError::Internal(what) => {
            tracing::error!(what, "passkey ceremony failed");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "Internal error.",
            )
        }
        PasskeyError::TooMany => json_error(
            StatusCode::CONFLICT,
            "too_many_passkeys",
            &error.to_string(),
        ),
        PasskeyError::AlreadyRegistered => json_error(
            StatusCode::CONFLICT,
            "already_registered",
            &error.to_string(),
        ),
        PasskeyError::InvalidName => {
            json_error(StatusCode::BAD_REQUEST, "invalid_name", &error.to_string())
        }
        PasskeyError::NoPasskeys => {
            json_error(StatusCode::NOT_FOUND, "no_passkeys", &error.to_string())
        }
        PasskeyError::Expired => json_error(StatusCode::BAD_REQUEST, "expired", &error.to_string()),
        PasskeyError::Refused => json_error(
            StatusCode::UNAUTHORIZED,
            "invalid_passkey",
            &error.to_string(),
        ),
    }
}

/// The passkeys of this server, the request checked as a same-origin JSON call; or the answer
/// to send instead.
fn checked<'a>(state: &'a AppState, headers: &HeaderMap) -> Result<Passkeys<'a>, Box<Response>> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Box::new(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "Send JSON.",
        )));
    }
    let issuer_origin = crate::origin::origin_of(state.settings.issuer());
    let same_origin = headers
        .get(header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| issuer_origin.as_deref() == Some(origin));
    if !same_origin {
        return Err(Box::new(json_error(
            StatusCode::FORBIDDEN,
            "invalid_origin",
            "Only this server's own pages may do that.",
        )));
    }
    state.passkeys().ok_or_else(|| {
        Box::new(json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "Passkeys need an issuer on a domain name.",
        ))
    })
}

fn finish_body(body: &Bytes) -> Result<Finish, Box<Response>> {
    serde_json::from_slice(body).map_err(|_| {
        Box::new(json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Malformed body.",
        ))
    })
}

/// The signed-in user of an account-page call.
async fn account_user(state: &AppState, headers: &HeaderMap) -> Result<User, Response> {
    match account::signed_in(state, headers).await {
        Ok(Some((_, user))) => Ok(user),
        Ok(None) => Err(json_error(
            StatusCode::UNAUTHORIZED,
            "login_required",
            "Sign in first.",
        )),
        Err(error) => Err(unavailable(&error)),
    }
}

/// The body of a registration's first call: the password, so a borrowed session cannot add a
/// passkey of its own (which would sign in without a password from then on).
#[derive(Deserialize)]
struct Proof {
    #[serde(default)]
    current_password: String,
}

pub(super) async fn registration_options(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let passkeys = match checked(&state, &headers) {
        Ok(passkeys) => passkeys,
        Err(response) => return *response,
    };
    let user = match account_user(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let Ok(proof) = serde_json::from_slice::<Proof>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Malformed body.",
        );
    };
    let client = client_ip(&state, &headers, remote_addr);
    match account::account(&state, &user)
        .check_current_password(&proof.current_password, client)
        .await
    {
        Ok(()) => {}
        Err(AccountChangeError::Store(error)) => return unavailable(&error),
        Err(AccountChangeError::Locked) => {
            return json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many attempts; please wait a while.",
            );
        }
        Err(_) => {
            return json_error(
                StatusCode::UNAUTHORIZED,
                "wrong_password",
                "The password is not right.",
            );
        }
    }
    match passkeys.begin_registration(&user).await {
        Ok(ceremony) => ok(json!(ceremony)),
        Err(error) => refused(error),
    }
}

pub(super) async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let passkeys = match checked(&state, &headers) {
        Ok(passkeys) => passkeys,
        Err(response) => return *response,
    };
    let user = match account_user(&state, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let finish = match finish_body(&body) {
        Ok(finish) => finish,
        Err(response) => return *response,
    };
    match passkeys
        .finish_registration(
            &user,
            &finish.state,
            &finish.credential,
            &finish.name,
            state.factor_notice(),
        )
        .await
    {
        Ok(record) => ok(json!({ "name": record.name })),
        Err(error) => refused(error),
    }
}

pub(super) async fn sign_in_options(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let passkeys = match checked(&state, &headers) {
        Ok(passkeys) => passkeys,
        Err(response) => return *response,
    };
    match passkeys.begin_sign_in() {
        Ok(ceremony) => ok(json!(ceremony)),
        Err(error) => refused(error),
    }
}

/// Signs in with a passkey alone: the session starts with what the passkey proved.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let passkeys = match checked(&state, &headers) {
        Ok(passkeys) => passkeys,
        Err(response) => return *response,
    };
    let finish = match finish_body(&body) {
        Ok(finish) => finish,
        Err(response) => return *response,
    };
    let client = client_ip(&state, &headers, remote_addr);
    let (user, methods) = match passkeys
        .finish_sign_in(&finish.state, &finish.credential)
        .await
    {
        Ok(found) => found,
        Err(error) => {
            if matches!(error, PasskeyError::Refused) {
                failed_sign_in(&state, "", "passkey refused", client);
            }
            return refused(error);
        }
    };
    if sign_in_needs_verification(state.settings.registration.require_verified_email, &user) {
        failed_sign_in(&state, user.username.as_str(), "email not verified", client);
        return json_error(
            StatusCode::FORBIDDEN,
            "email_not_verified",
            "Confirm your email address first: sign in with your password to get a new link.",
        );
    }
    let return_to = safe_return_to(Some(&finish.return_to));
    let location = continue_to(&return_to);
    let response = ok(json!({ "location": location }));
    signed_in(
        &state,
        &headers,
        &user,
        AuthMethods::of(&methods),
        None,
        client,
        response,
    )
    .await
}

pub(super) async fn second_factor_options(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    let passkeys = match checked(&state, &headers) {
        Ok(passkeys) => passkeys,
        Err(response) => return *response,
    };
    let user = match pending_user(&state, &headers).await {
        Ok(Some((_, user))) => user,
        Ok(None) => {
            return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in again.");
        }
        Err(error) => return unavailable(&error),
    };
    match passkeys.begin_second_factor(&user).await {
        Ok(ceremony) => ok(json!(ceremony)),
        Err(error) => refused(error),
    }
}

/// Completes a sign-in whose password was right with one of the user's passkeys.
pub(super) async fn second_factor(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let passkeys = match checked(&state, &headers) {
        Ok(passkeys) => passkeys,
        Err(response) => return *response,
    };
    let (pending, user) = match pending_user(&state, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return json_error(StatusCode::UNAUTHORIZED, "login_required", "Sign in again.");
        }
        Err(error) => return unavailable(&error),
    };
    let finish = match finish_body(&body) {
        Ok(finish) => finish,
        Err(response) => return *response,
    };
    let client = client_ip(&state, &headers, remote_addr);
    let methods = match passkeys
        .finish_second_factor(&user, &finish.state, &finish.credential)
        .await
    {
        Ok(methods) => methods,
        Err(error) => {
            if matches!(error, PasskeyError::Refused) {
                failed_sign_in(&state, user.username.as_str(), "passkey refused", client);
            }
            return refused(error);
        }
    };
    let return_to = safe_return_to(Some(&finish.return_to));
    let response = ok(json!({ "location": continue_to(&return_to) }));
    let amr = pending.amr.with(&methods);
    let provider = pending.identity_provider;
    signed_in(&state, &headers, &user, amr, provider, client, response).await
}

/// `GET /assets/passkeys.js`: the pages' passkey script.
pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("../../assets/passkeys.js"),
    )
        .into_response()
}
