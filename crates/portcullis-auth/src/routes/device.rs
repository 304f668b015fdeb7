//! The verification page of the device authorization grant (RFC 8628 §3.3): `GET /device` asks a
//! signed-in user for the code their device shows (or takes it from `verification_uri_complete`),
//! shows which application asks for what with the code to compare, and records their decision
//! (`POST`, CSRF-checked) for the device's next poll.

use super::{error_page, paths, redirect_with, unavailable_page};
use crate::csrf;
use crate::form::OAuthParams;
use crate::pages::{self, Page};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::email_verification::sign_in_needs_verification;
use portcullis_core::{ScopeSet, Session, User};
use portcullis_service::StoreError;
use portcullis_service::device_authorization::{Lookup, WaitingDevice};
use std::net::SocketAddr;

/// The code form, filled in when the address carries a `user_code`
/// (`verification_uri_complete`). Looking the code up is left to the form's `POST`: a lookup
/// counts against the user's allowance of guesses, which a cross-site link must not spend.
pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = OAuthParams::from_query(query.as_deref().unwrap_or_default()).ok();
    let typed = params
        .as_ref()
        .and_then(|params| params.get("user_code"))
        .unwrap_or_default();
    match signed_in(&state, &headers).await {
        Ok(Some(_)) => code_form(&state, &headers, StatusCode::OK, typed, None),
        Ok(None) => sign_in_first(typed, None),
        Err(error) => unavailable_page(&state, &error),
    }
}

/// A typed code (then the confirmation), or the decision on a confirmed one.
pub(super) async fn submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (params, csrf_ok) = csrf::posted_form(&state, &headers, &body);
    if !csrf_ok {
        return error_page(
            &state,
            StatusCode::FORBIDDEN,
            "The form expired or came from another site. Go back and try again.",
        );
    }
    let decision = match params.get("decision") {
        Some("allow") => Some(true),
        Some("deny") => Some(false),
        Some(_) => return error_page(&state, StatusCode::BAD_REQUEST, "Unknown decision."),
        None => None,
    };
    let typed = params.get("user_code").unwrap_or_default();
    respond(&state, &headers, remote_addr, typed, decision).await
}

async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    typed: &str,
    decision: Option<bool>,
) -> Response {
    let (session, user) = match signed_in(state, headers).await {
        Ok(Some(signed_in)) => signed_in,
        Ok(None) => return sign_in_first(typed, None),
        Err(error) => return unavailable_page(state, &error),
    };
    if typed.is_empty() {
        return code_form(state, headers, StatusCode::OK, "", None);
    }
    let client_ip = crate::client_ip::client_ip(state, headers, remote_addr);
    let devices = state.device_authorizations();
    let device = match devices.look_up(typed, &user, client_ip).await {
        Ok(Lookup::Found(device)) => device,
        Ok(Lookup::Unknown) => {
            return code_form(
                state,
                headers,
                StatusCode::BAD_REQUEST,
                typed,
                Some("That code is wrong, expired or used already. Check your device."),
            );
        }
        Ok(Lookup::Locked) => {
            return error_page(
                state,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many wrong codes. Wait a few minutes and try again.",
            );
        }
        Err(error) => return unavailable_page(state, &error),
    };
    // The MFA policy and the client's `require_mfa` apply as at `/authorize`: a session below
    // them signs in again, with the second factor (the sign-in reads this device's client).
    let required =
        state
            .settings
            .sign_in
            .mfa
            .required_acr(&user.roles, device.client.require_mfa, None);
    if session.amr.acr() < required {
        return sign_in_first(&device.user_code, Some(&device.client.id));
    }
    match decision {
        None => confirm_page(state, headers, &device),
        Some(approve) => match devices.decide(&device, &user, &session, approve).await {
            Ok(true) if approve => done_page(
                state,
                "Device allowed",
                "You can go back to your device: it is signing in.",
            ),
            Ok(true) => done_page(
                state,
                "Device denied",
                "The device was not allowed in. You can close this page.",
            ),
            Ok(false) => code_form(
                state,
                headers,
                StatusCode::BAD_REQUEST,
                "",
                Some("That code was decided already or expired."),
            ),
            Err(error) => unavailable_page(state, &error),
        },
    }
}

/// The session of this browser and its user, when the user may still sign in (an account
/// that must verify its address first may not approve devices either).
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, StoreError> {
    let require_verified = state.settings.registration.require_verified_email;
    Ok(super::account::signed_in(state, headers)
        .await?
        .filter(|(_, user)| !sign_in_needs_verification(require_verified, user)))
}

/// To the sign-in page, coming back here with the code and, when a second factor is needed, the
/// device's client (whose `require_mfa` the sign-in then applies).
fn sign_in_first(typed: &str, client_id: Option<&str>) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if !typed.is_empty() {
        query.append_pair("user_code", typed);
    }
    if let Some(client_id) = client_id {
        query.append_pair("client_id", client_id);
    }
    let query = query.finish();
    let return_to = if query.is_empty() {
        paths::DEVICE.to_owned()
    } else {
        format!("{}?{query}", paths::DEVICE)
    };
    redirect_with(paths::SIGN_IN, &[("return_to", &return_to)])
}

fn code_form(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    typed: &str,
    error: Option<&str>,
) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    Page {
        status,
        title: "Connect a device".to_owned(),
        body: pages::device_code_form(&token, typed, error),
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

fn confirm_page(state: &AppState, headers: &HeaderMap, device: &WaitingDevice) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    let scope = ScopeSet::parse(&device.grant.scope).unwrap_or_default();
    let scopes: Vec<&str> = scope.iter().collect();
    Page {
        status: StatusCode::OK,
        title: "Allow this device?".to_owned(),
        body: pages::device_confirm_form(
            &device.client.label(),
            &scopes,
            &portcullis_core::device_grant::display_user_code(&device.user_code),
            &token,
        ),
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

fn done_page(state: &AppState, title: &str, message: &str) -> Response {
    Page {
        status: StatusCode::OK,
        title: title.to_owned(),
        body: pages::message(message),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}
