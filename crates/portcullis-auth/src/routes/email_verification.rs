//! `/verify-email?token=...`: the link sent to an address, for a registration or for an account
//! (a changed address, or its own when sign-in waits for it). `GET` changes nothing: it shows
//! what the link confirms and asks for the account's password, so neither a mail scanner that
//! opens links nor the owner of an address someone else typed can confirm it. `POST` (CSRF
//! checked, the password throttled as sign-in) confirms the address (creating a registration's
//! account), signs the user in, and continues to the authorization request they came from, or
//! to their account page.

use super::password_reset::{FORM_EXPIRED, page};
use super::sign_in::safe_return_to;
use super::{error_page, paths, redirect_with, unavailable_page};
use crate::client_ip::client_ip;
use crate::pages;
use crate::state::AppState;
use crate::{browser_session, csrf};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::{AuditEvent, AuthMethods, User};
use portcullis_service::{
    EmailVerification, LinkKind, LinkPurpose, Registration, StoreError, VerificationError,
};
use serde::Deserialize;
use std::net::SocketAddr;

const TITLE: &str = "Confirm your email address";
const EXPIRED: &str = "This link has expired, was already used, or a newer one was sent. If you \
                       confirmed your address already, sign in.";

/// The use case for one request.
pub(crate) fn verification(state: &AppState) -> EmailVerification<'_> {
    EmailVerification {
        store: state.store.as_ref(),
        credentials: &state.credentials,
        throttle: state.sign_in_throttle.as_ref(),
        clock: state.clock.as_ref(),
        audit: &state.audit,
        verify_page: &state.verify_page,
        product_name: &state.settings.sign_in.product_name,
    }
}

/// The registration use case for one request.
pub(crate) fn registration(state: &AppState) -> Registration<'_> {
    Registration {
        policy: &state.settings.registration,
        verification: verification(state),
        sign_in_page: &state.sign_in_page,
        forgot_page: &state.forgot_page,
    }
}

/// What the link of `token` confirms: a registration's address, or an account's.
async fn purpose(state: &AppState, token: &str) -> Result<Option<LinkPurpose>, StoreError> {
    match registration(state).pending(token).await? {
        Some(pending) => Ok(Some(pending)),
        None => verification(state).purpose(token).await,
    }
}

fn form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    token: &str,
    purpose: &LinkPurpose,
    error: Option<&str>,
) -> Response {
    page(state, headers, status, TITLE, |csrf| {
        pages::confirm_address_form(csrf, token, &purpose.username, &purpose.email, error)
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct VerifyQuery {
    token: Option<String>,
}

pub(super) async fn confirm_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<VerifyQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    match purpose(&state, &token).await {
        Ok(Some(purpose)) => form(&state, &headers, StatusCode::OK, &token, &purpose, None),
        Ok(None) => error_page(&state, StatusCode::BAD_REQUEST, EXPIRED),
        Err(error) => unavailable_page(&state, &error),
    }
}

pub(super) async fn confirm(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.settings.federation.local_sign_in {
        // The link's form takes the account's password: not where only providers sign in.
        return error_page(
            &state,
            StatusCode::FORBIDDEN,
            "Sign-in with a password is turned off here. Use a sign-in provider.",
        );
    }
    let (params, csrf_ok) = csrf::posted_form(&state, &headers, &body);
    let token = params.get("token").unwrap_or_default().to_owned();
    let purpose = match purpose(&state, &token).await {
        Ok(Some(purpose)) => purpose,
        Ok(None) => return error_page(&state, StatusCode::BAD_REQUEST, EXPIRED),
        Err(error) => return unavailable_page(&state, &error),
    };
    if !csrf_ok {
        let status = StatusCode::FORBIDDEN;
        return form(
            &state,
            &headers,
            status,
            &token,
            &purpose,
            Some(FORM_EXPIRED),
        );
    }
    let password = params.get("password").unwrap_or_default();
    let client = client_ip(&state, &headers, remote_addr);
    let confirmed = match purpose.kind {
        LinkKind::Registration => registration(&state).confirm(&token, password, client).await,
        LinkKind::Account => verification(&state)
            .verify(&token, password, client)
            .await
            .map(|(user, link)| (user, link.return_to)),
    };
    let (user, return_to) = match confirmed {
        Ok(confirmed) => confirmed,
        Err(VerificationError::InvalidLink) => {
            return error_page(&state, StatusCode::BAD_REQUEST, EXPIRED);
        }
        Err(VerificationError::Store(error)) => return unavailable_page(&state, &error),
        Err(error @ (VerificationError::WrongPassword | VerificationError::Locked)) => {
            let status = match error {
                VerificationError::Locked => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let message = error.to_string();
            return form(&state, &headers, status, &token, &purpose, Some(&message));
        }
        Err(error) => return error_page(&state, StatusCode::CONFLICT, &error.to_string()),
    };
    signed_in(&state, &headers, &user, return_to.as_deref(), client).await
}

/// Starts a session for `user`, who just proved the password, and continues to `return_to` (an
/// authorization request) or the account page.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    return_to: Option<&str>,
    client: std::net::IpAddr,
) -> Response {
    let return_to = safe_return_to(return_to);
    match super::second_factor::after_first_factor(
        state,
        user,
        &return_to,
        AuthMethods::password(),
        None,
    )
    .await
    {
        Ok(Some(second_step)) => return second_step,
        Ok(None) => {}
        Err(error) => return unavailable_page(state, &error),
    }
    let started = browser_session::start(state, headers, user, AuthMethods::password(), None).await;
    let (_, cookie) = match started {
        Ok(started) => started,
        Err(error) => return unavailable_page(state, &error),
    };
    state.audit.record(&AuditEvent::SignIn {
        username: user.username.to_string(),
        success: true,
        reason: None,
        remote_addr: Some(client.to_string()),
    });
    let target = match return_to {
        target if target.is_empty() => paths::ACCOUNT.to_owned(),
        target => target,
    };
    let mut response = redirect_with(&target, &[]);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}
