//! Forgotten passwords: `GET/POST /forgot` asks for a link by email (the same answer for any
//! address, throttled per address and per network like sign-in), `GET/POST /reset` chooses the
//! new password through the link. Off, with a page saying so, when `[email]` is not configured.

use super::{error_page, unavailable_page};
use crate::client_ip::client_ip;
use crate::csrf;
use crate::pages::{self, Page};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::password_reset::RESET_LINK_LIFETIME_SECS;
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::user::email_key;
use portcullis_service::{PasswordReset, ResetError};
use serde::Deserialize;
use std::net::SocketAddr;

const EXPIRED: &str =
    "This link has expired, was already used, or a newer one was sent. Ask for a new link.";
pub(super) const FORM_EXPIRED: &str =
    "The form expired or came from another site. Please try again.";

/// The flow's use case for one request.
pub(crate) fn password_reset(state: &AppState) -> PasswordReset<'_> {
    PasswordReset {
        store: state.store.as_ref(),
        revoker: state.revoker(),
        hasher: state.credentials.hasher(),
        clock: state.clock.as_ref(),
        audit: &state.audit,
        reset_page: &state.reset_page,
        product_name: &state.settings.sign_in.product_name,
    }
}

/// A page whose body holds a form: `body` gets the CSRF token (and the cookie is set).
pub(super) fn page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    body: impl FnOnce(&str) -> String,
) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    Page {
        status,
        title: title.to_owned(),
        body: body(&token),
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

fn email_off(state: &AppState) -> Option<Response> {
    state.email.is_none().then(|| {
        error_page(
            state,
            StatusCode::NOT_FOUND,
            "Password reset by email is not available here: ask an administrator to set a new password.",
        )
    })
}

pub(super) async fn forgot_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(off) = email_off(&state) {
        return off;
    }
    page(
        &state,
        &headers,
        StatusCode::OK,
        "Forgot your password?",
        |csrf| pages::forgot_form(csrf, None),
    )
}

pub(super) async fn forgot_submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = email_off(&state) {
        return off;
    }
    let (params, csrf_ok) = csrf::posted_form(&state, &headers, &body);
    if !csrf_ok {
        return page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            "Forgot your password?",
            |csrf| pages::forgot_form(csrf, Some(FORM_EXPIRED)),
        );
    }
    let email = params.get("email").unwrap_or_default().to_owned();
    let client = client_ip(&state, &headers, remote_addr);
    // The sign-in throttle's design, on counters of their own: per address and per network.
    let keys = AttemptKeys::for_purpose("reset", &email_key(&email).unwrap_or_default(), client);
    let now = state.clock.now();
    match state.sign_in_throttle.reserve(&keys, now).await {
        Ok(ThrottleDecision::Allow(delay)) => {
            tokio::time::sleep(delay).await;
            if let Err(error) = password_reset(&state).request(&email).await {
                return unavailable_page(&state, &error);
            }
        }
        // Over a limit nothing is queued, and the answer stays the same: it must not tell
        // whether the address or the network hit it.
        Ok(ThrottleDecision::Locked(_)) => {}
        Err(error) => return unavailable_page(&state, &error),
    }
    let minutes = RESET_LINK_LIFETIME_SECS / 60;
    Page {
        status: StatusCode::OK,
        title: "Check your email".to_owned(),
        body: pages::message(&format!(
            "If an account uses {email}, we are sending it a link to choose a new password. \
             The link works once, for {minutes} minutes."
        )),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}

#[derive(Debug, Deserialize)]
pub(super) struct ResetQuery {
    token: Option<String>,
}

pub(super) async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ResetQuery>,
) -> Response {
    if let Some(off) = email_off(&state) {
        return off;
    }
    let token = query.token.unwrap_or_default();
    match password_reset(&state).link_is_live(&token).await {
        Ok(true) => {
            let min = state.credentials.hasher().min_length();
            page(
                &state,
                &headers,
                StatusCode::OK,
                "Choose a new password",
                |csrf| pages::reset_form(csrf, &token, min, None),
            )
        }
        Ok(false) => expired(&state),
        Err(error) => unavailable_page(&state, &error),
    }
}

fn expired(state: &AppState) -> Response {
    Page {
        status: StatusCode::BAD_REQUEST,
        title: "Link expired".to_owned(),
        body: format!(
            "{}<p><a href=\"/forgot\">Ask for a new link</a></p>",
            pages::message(EXPIRED)
        ),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}

pub(super) async fn reset_submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = email_off(&state) {
        return off;
    }
    let (params, csrf_ok) = csrf::posted_form(&state, &headers, &body);
    let token = params.get("token").unwrap_or_default().to_owned();
    let min = state.credentials.hasher().min_length();
    if !csrf_ok {
        return page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            "Choose a new password",
            |csrf| pages::reset_form(csrf, &token, min, Some(FORM_EXPIRED)),
        );
    }
    let password = params.get("password").unwrap_or_default().to_owned();
    let client = client_ip(&state, &headers, remote_addr);
    match password_reset(&state)
        .reset(&token, password, Some(client.to_string()))
        .await
    {
        Ok(()) => Page {
            status: StatusCode::OK,
            title: "Password changed".to_owned(),
            body: format!(
                "{}<p><a href=\"/signin\">Sign in</a></p>",
                pages::message(
                    "Your password was changed, and every session of your account was signed out."
                )
            ),
            cookies: Vec::new(),
        }
        .render(&state.settings.sign_in.product_name),
        Err(ResetError::InvalidLink) => expired(&state),
        Err(ResetError::Password(error)) => {
            let message = error.to_string();
            page(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                "Choose a new password",
                |csrf| pages::reset_form(csrf, &token, min, Some(&message)),
            )
        }
        Err(ResetError::Store(error)) => unavailable_page(&state, &error),
    }
}
