//! Signing in to the console through Portcullis's own sign-in: `/console/login` sends the
//! browser to `/authorize` as the built-in client with PKCE and a single-use `state`;
//! `/console/callback` redeems the code in process and opens a console session for an admin
//! or auditor. Everyone else is refused.

use super::CLIENT_ID;
use super::form::{COOKIE, Signed, see_other};
use super::layout::page;
use super::sessions::NewConsoleSession;
use crate::admin_api::access::capability;
use crate::cookies::cookie_name;
use crate::pages::escape;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::pkce;
use portcullis_service::{Actor, TokenRequest};
use serde::Deserialize;
use serde_json::Value;

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<div class=\"card\"><p>{}</p><p><a href=\"/console/login\">Sign in</a></p></div>",
            escape(text)
        ),
        None,
        Vec::new(),
    )
}

/// `/console`: the users page once signed in.
pub(super) async fn home(_signed: Signed) -> Redirect {
    Redirect::to("/console/users")
}

/// Starts a sign-in.
pub(super) async fn login(State(state): State<AppState>) -> Response {
    let (Some(redirect_uri), Some((client_state, verifier))) = (
        state.console.redirect_uri(),
        state.console.sessions.begin(state.clock.now()),
    ) else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The console is not ready.",
        );
    };
    let challenge = pkce::s256_challenge(&verifier);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid portcullis:admin portcullis:audit")
        .append_pair("state", &client_state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    Redirect::to(&format!(
        "{}?{query}",
        state.settings.endpoint("/authorize")
    ))
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Redeems the code and opens a console session.
pub(super) async fn callback(
    State(state): State<AppState>,
    Query(callback): Query<Callback>,
) -> Response {
    let now = state.clock.now();
    let verifier = callback
        .state
        .as_deref()
        .and_then(|client_state| state.console.sessions.finish(client_state, now));
    let (Some(code), Some(verifier), None) = (callback.code, verifier, callback.error) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Not signed in",
            "The sign-in did not complete or has expired.",
        );
    };
    let client = match state.store.find_client(CLIENT_ID).await {
        Ok(Some(client)) => client,
        _ => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The console is not ready.",
            );
        }
    };
    let redirect_uri = state.console.redirect_uri();
    let request = TokenRequest::AuthorizationCode {
        code: &code,
        redirect_uri: redirect_uri.as_deref(),
        code_verifier: Some(&verifier),
    };
    let Ok(tokens) = state.token_issuer().issue(&client, request).await else {
        return message(
            StatusCode::BAD_REQUEST,
            "Not signed in",
            "The sign-in could not be completed.",
        );
    };
    let Ok(validated) = state
        .inspector()
        .validate_access_token(&tokens.access_token, None)
    else {
        return message(
            StatusCode::BAD_REQUEST,
            "Not signed in",
            "The sign-in could not be completed.",
        );
    };
    let claims = validated.claims;
    // Only administrators and auditors (scope and role checked together, as the API does).
    let Some(capability) = capability(&claims) else {
        return message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Only administrators and auditors may use the console.",
        );
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    let session = NewConsoleSession {
        actor: Actor::token(text("sub"), CLIENT_ID),
        username: text("preferred_username").to_owned(),
        user_id: text("sub").to_owned(),
        sid: text("sid").to_owned(),
        capability,
    };
    let Some(secret) = state.console.sessions.start(session, now) else {
        return message(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "Try again.");
    };
    let secure = state.console.secure();
    let mut cookie = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict",
        cookie_name(COOKIE, secure)
    );
    if secure {
        cookie.push_str("; Secure");
    }
    let mut response = super::form::see_other("/console/users");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
    response
}

/// Ends the console session (not the sign-in session of the auth server).
pub(super) async fn logout(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = crate::form::OAuthParams::from_form_body(&headers, &body).ok();
    let presented = form
        .as_ref()
        .and_then(|form| form.get("csrf"))
        .unwrap_or_default();
    if !portcullis_jose::constant_time_eq(presented.as_bytes(), signed.0.csrf.as_bytes()) {
        return signed.error(
            StatusCode::FORBIDDEN,
            "The form expired. Go back and try again.",
        );
    }
    if let Some(secret) = crate::cookies::read_cookie(&headers, COOKIE, state.console.secure()) {
        state.console.sessions.end(&secret);
    }
    let secure = state.console.secure();
    let cookie = format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        cookie_name(COOKIE, secure),
        if secure { "; Secure" } else { "" }
    );
    let mut response = see_other("/console/login");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
    response
}
