//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET /logout` asks the user to
//! confirm; `POST /logout` (with the CSRF token) ends the session, revokes its refresh tokens, puts
//! its `sid` on the revocation feed, and returns to the client only at a registered
//! `post_logout_redirect_uri`.

use super::{error_page, redirect_with, unavailable_page};
use crate::cookies::clear_session_cookie;
use crate::form::OAuthParams;
use crate::pages::{self, Page};
use crate::state::AppState;
use crate::{browser_session, csrf};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::AuditEvent;
use serde_json::Value;

const LOGOUT_PARAMETERS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// Where to send the user after logout, if anywhere; `Err` with a message when the request asks
/// for a redirect that is not registered for the client it names.
async fn post_logout_target(
    state: &AppState,
    params: &OAuthParams,
) -> Result<Option<String>, String> {
    let Some(target) = params.get("post_logout_redirect_uri") else {
        return Ok(None);
    };
    let hinted_client = params
        .get("id_token_hint")
        .and_then(|hint| state.inspector().id_token_hint_claims(hint))
        .and_then(|claims| claims.get("aud").and_then(Value::as_str).map(str::to_owned));
    let client_id = match (hinted_client, params.get("client_id")) {
        (Some(hinted), Some(named)) if hinted != named => {
            return Err("The logout request is inconsistent.".into());
        }
        (Some(hinted), _) => hinted,
        (None, Some(named)) => named.to_owned(),
        (None, None) => return Err("A logout redirect needs id_token_hint or client_id.".into()),
    };
    let client = state
        .store
        .find_client(&client_id)
        .await
        .map_err(|_| "The service is temporarily unavailable.".to_owned())?;
    match client {
        Some(client)
            if client
                .post_logout_redirect_uris
                .iter()
                .any(|registered| registered == target) =>
        {
            Ok(Some(target.to_owned()))
        }
        _ => Err("The post_logout_redirect_uri is not registered for this application.".into()),
    }
}

/// The page of a logout that goes nowhere else.
pub(super) fn signed_out_page(state: &AppState) -> Response {
    Page {
        status: StatusCode::OK,
        title: "Signed out".to_owned(),
        body: pages::message("You are signed out."),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}

fn parse(headers: &HeaderMap, query: Option<&str>, body: Option<&[u8]>) -> Option<OAuthParams> {
    match body {
        Some(body) => OAuthParams::from_form_body(headers, body).ok(),
        None => OAuthParams::from_query(query.unwrap_or_default()).ok(),
    }
}

pub(super) async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(params) = parse(&headers, query.as_deref(), None) else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "The logout request is malformed.",
        );
    };
    if let Err(message) = post_logout_target(&state, &params).await {
        return error_page(&state, StatusCode::BAD_REQUEST, &message);
    }
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, &headers, state.settings.secure_cookies());
    let body = pages::logout_form(
        &token,
        &params
            .pairs_except(&["csrf_token"])
            .into_iter()
            .filter(|(name, _)| LOGOUT_PARAMETERS.contains(&name.as_str()))
            .collect::<Vec<_>>(),
    );
    Page {
        status: StatusCode::OK,
        title: "Sign out".to_owned(),
        body,
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

pub(super) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = parse(&headers, None, Some(&body)) else {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "The logout request is malformed.",
        );
    };
    if !csrf::is_valid(
        &state.csrf_key,
        &headers,
        params.get("csrf_token"),
        state.settings.secure_cookies(),
    ) {
        return error_page(
            &state,
            StatusCode::FORBIDDEN,
            "The form expired or came from another site. Go back and try again.",
        );
    }
    let target = match post_logout_target(&state, &params).await {
        Ok(target) => target,
        Err(message) => return error_page(&state, StatusCode::BAD_REQUEST, &message),
    };
    let mut provider = None;
    match browser_session::current(&state, &headers).await {
        Ok(Some(session)) => {
            let now = state.clock.now();
            if let Err(error) = state.revoker().revoke_session(&session.sid, now).await {
                return unavailable_page(&state, &error);
            }
            state.audit.record(&AuditEvent::Logout {
                user_id: session.user_id,
                sid: session.sid,
            });
            provider = session.identity_provider;
        }
        Ok(None) => {}
        Err(error) => return unavailable_page(&state, &error),
    }
    // Where the logout ends: the client's registered URI with its state, or the page below.
    let destination = target.map(|target| match params.get("state") {
        Some(client_state) => super::with_query(&target, &[("state", client_state)]),
        None => target,
    });
    let upstream = match provider {
        Some(id) => {
            super::federation::upstream_logout(&state, &id, destination.as_deref().unwrap_or(""))
                .await
        }
        None => None,
    };
    let mut response = match (upstream, destination) {
        (Some(to_provider), _) => to_provider,
        (None, Some(destination)) => redirect_with(&destination, &[]),
        (None, None) => signed_out_page(&state),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        clear_session_cookie(state.settings.secure_cookies()),
    );
    response
}
