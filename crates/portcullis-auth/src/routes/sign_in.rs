//! The sign-in page: `GET /signin` shows the form, `POST /signin` checks the credentials, starts a
//! fresh session and returns to the authorization request that sent the user here.

use super::{paths, redirect_with, unavailable_page};
use crate::client_ip::client_ip;
use crate::form::OAuthParams;
use crate::pages::{self, Page};
use crate::state::AppState;
use crate::{browser_session, csrf};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_core::email_verification::sign_in_needs_verification;
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::user::email_key;
use portcullis_core::{AuditEvent, AuthMethods, User};
use portcullis_service::credentials::{Attempt, SignInFailure};
use serde::Deserialize;
use std::net::IpAddr;
use std::net::SocketAddr;

/// The one message for any credential failure, so it reveals nothing.
const INVALID_CREDENTIALS: &str = "Invalid username or password.";

#[derive(Debug, Deserialize)]
pub(super) struct SignInQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

/// Only the authorization endpoint, the device page and the account page are valid places to
/// return to, so the parameter cannot be used as an open redirect.
pub(super) fn safe_return_to(return_to: Option<&str>) -> String {
    return_to
        .filter(|target| {
            target.starts_with(&format!("{}?", paths::AUTHORIZE))
                || target.starts_with(&format!("{}?", paths::DEVICE))
                || *target == paths::DEVICE
                || *target == paths::ACCOUNT
        })
        .unwrap_or_default()
        .to_owned()
}

fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    return_to: &str,
    login_hint: &str,
    error: Option<&str>,
) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    Page {
        status,
        title: "Sign in".to_owned(),
        body: pages::sign_in_form(
            &token,
            return_to,
            login_hint,
            error,
            pages::SignInLinks {
                password: state.settings.federation.local_sign_in,
                forgot: state.email.is_some() && state.settings.federation.local_sign_in,
                register: state.email.is_some()
                    && state.settings.registration.is_enabled()
                    && state.settings.federation.local_sign_in,
                passkeys: state.relying_party.is_some(),
            },
            &provider_buttons(state, return_to),
        ),
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

/// A button per upstream provider.
fn provider_buttons(state: &AppState, return_to: &str) -> Vec<pages::ProviderButton> {
    state
        .upstreams
        .all()
        .iter()
        .map(|upstream| pages::ProviderButton {
            href: super::federation::start_url(&upstream.settings.id, return_to),
            name: upstream.settings.display_name.clone(),
        })
        .collect()
}

/// The provider an authorization request names with `kc_idp_hint` (Keycloak's parameter, which
/// clients built for it send) or `idp_hint`, or whose `domains` hold the domain of its
/// `login_hint` (home realm discovery), if it is one of ours.
fn provider_hint(state: &AppState, return_to: &str) -> Option<String> {
    let query = return_to
        .strip_prefix(paths::AUTHORIZE)?
        .strip_prefix('?')?;
    let mut named = None;
    let mut domain = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "kc_idp_hint" | "idp_hint" => named = Some(value.into_owned()),
            "login_hint" => {
                domain = value
                    .rsplit_once('@')
                    .map(|(_, domain)| domain.trim().to_ascii_lowercase());
            }
            _ => {}
        }
    }
    let found = match (named, domain) {
        (Some(id), _) => state.upstreams.get(&id),
        (None, Some(domain)) => state
            .upstreams
            .all()
            .iter()
            .find(|upstream| upstream.settings.domains.contains(&domain))
            .cloned(),
        (None, None) => None,
    };
    found.map(|upstream| upstream.settings.id.clone())
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Response {
    let return_to = safe_return_to(query.return_to.as_deref());
    if let Some(provider) = provider_hint(&state, &return_to) {
        return redirect_with(&super::federation::start_url(&provider, &return_to), &[]);
    }
    let hint = query.login_hint.unwrap_or_default();
    form_page(&state, &headers, StatusCode::OK, &return_to, &hint, None)
}

pub(super) async fn submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = OAuthParams::from_form_body(&headers, &body).unwrap_or_default();
    let return_to = safe_return_to(params.get("return_to"));
    let username = params.get("username").unwrap_or_default().to_owned();
    if !csrf::is_valid(
        &state.csrf_key,
        &headers,
        params.get("csrf_token"),
        state.settings.secure_cookies(),
    ) {
        return form_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            &return_to,
            &username,
            Some("The form expired or came from another site. Please try again."),
        );
    }
    if !state.settings.federation.local_sign_in {
        return form_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            &return_to,
            &username,
            Some("Sign-in with a password is turned off here. Use a provider below."),
        );
    }
    let password = params.get("password").unwrap_or_default();
    let client = client_ip(&state, &headers, remote_addr);
    let attempt = Attempt {
        username: &username,
        password,
        client,
        now: state.clock.now(),
    };
    let outcome = state
        .credentials
        .verify(
            state.store.as_ref(),
            state.sign_in_throttle.as_ref(),
            attempt,
        )
        .await;
    let failure = |reason: &str| AuditEvent::SignIn {
        username: username.clone(),
        success: false,
        reason: Some(reason.to_owned()),
        remote_addr: Some(client.to_string()),
    };
    let user = match outcome {
        Ok(user) => user,
        Err(SignInFailure::InvalidCredentials(reason)) => {
            state.audit.record(&failure(reason));
            return form_page(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                &return_to,
                &username,
                Some(INVALID_CREDENTIALS),
            );
        }
        Err(SignInFailure::Locked) => {
            state.audit.record(&failure("locked"));
            return form_page(
                &state,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                &return_to,
                &username,
                Some("Too many failed attempts. Please wait a while and try again."),
            );
        }
        Err(SignInFailure::Store(error)) => return unavailable_page(&state, &error),
        // Admission control: refused at once, before anything was counted; retry shortly.
        Err(SignInFailure::Busy) => {
            let mut page = form_page(
                &state,
                &headers,
                StatusCode::SERVICE_UNAVAILABLE,
                &return_to,
                &username,
                Some("Many people are signing in right now. Please try again in a moment."),
            );
            page.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return page;
        }
    };
    if sign_in_needs_verification(state.settings.registration.require_verified_email, &user) {
        state.audit.record(&failure("email not verified"));
        return verification_pending(&state, &user, &return_to, client).await;
    }
    match super::second_factor::after_first_factor(
        &state,
        &user,
        &return_to,
        AuthMethods::password(),
        None,
    )
    .await
    {
        Ok(Some(second_step)) => return second_step,
        Ok(None) => {}
        Err(error) => return unavailable_page(&state, &error),
    }
    let started =
        browser_session::start(&state, &headers, &user, AuthMethods::password(), None).await;
    let (session, cookie) = match started {
        Ok(started) => started,
        Err(error) => return unavailable_page(&state, &error),
    };
    state.audit.record(&AuditEvent::SignIn {
        username: user.username.to_string(),
        success: true,
        reason: None,
        remote_addr: Some(client.to_string()),
    });
    tracing::debug!(sid = %session.sid, "session started");
    let mut response = if return_to.is_empty() {
        Page {
            status: StatusCode::OK,
            title: "Signed in".to_owned(),
            body: pages::message(&format!("You are signed in as {}.", user.username)),
            cookies: Vec::new(),
        }
        .render(&state.settings.sign_in.product_name)
    } else {
        redirect_with(&return_to, &[])
    };
    response
        .headers_mut()
        .append(axum::http::header::SET_COOKIE, cookie);
    response
}

/// The answer to a right password of an account whose address is not verified while the policy
/// requires it: a new link goes to the address (the password proved the account's owner asks),
/// and sign-in waits for it.
async fn verification_pending(
    state: &AppState,
    user: &User,
    return_to: &str,
    client: IpAddr,
) -> Response {
    let message = match (&user.email, state.email.is_some()) {
        (Some(address), true) => {
            // Counted per address and network, so a known password cannot flood the address.
            let key = email_key(address).unwrap_or_default();
            let keys = AttemptKeys::for_purpose("verify-mail", &key, client);
            let send = match state
                .sign_in_throttle
                .reserve(&keys, state.clock.now())
                .await
            {
                Ok(ThrottleDecision::Allow(_)) => true,
                Ok(ThrottleDecision::Locked(_)) => false,
                Err(error) => return unavailable_page(state, &error),
            };
            if send {
                let sent = super::email_verification::verification(state)
                    .send_link(
                        user,
                        address,
                        Some(return_to).filter(|to| !to.is_empty()),
                        false,
                    )
                    .await;
                if let Err(error) = sent {
                    return unavailable_page(state, &error);
                }
            }
            if send {
                format!(
                    "Confirm your email address first: we sent a link to {address}. Follow it \
                     and enter your password."
                )
            } else {
                format!(
                    "Confirm your email address first with the newest link we sent to {address}; \
                     no more are sent for a while."
                )
            }
        }
        _ => "This account needs a verified email address before it can sign in. Please ask an \
              administrator."
            .to_owned(),
    };
    Page {
        status: StatusCode::FORBIDDEN,
        title: "Confirm your email address".to_owned(),
        body: pages::message(&message),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}

/// Appends `cookie` to a response (kept for handlers that build the response first).
pub(crate) fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response
        .headers_mut()
        .append(axum::http::header::SET_COOKIE, cookie);
    response
}
