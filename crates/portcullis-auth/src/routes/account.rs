//! The signed-in user's account page, `/account`: profile, their sessions (end one), the
//! applications they allowed (withdraw one: consent and tokens), and a password change (current
//! password required; every session ends, so they sign in again). Forms carry the CSRF token;
//! without a session the page sends the user to sign in and back.

use super::{paths, redirect_with, unavailable_page};
use crate::client_ip::client_ip;
use crate::cookies::clear_session_cookie;
use crate::form::OAuthParams;
use crate::pages::{self, Page, escape, format_time, hidden_fields};
use crate::state::AppState;
use crate::{browser_session, csrf};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::{Session, User};
use portcullis_service::{Account, AccountChangeError, EmailChange, StoreError};
use std::net::SocketAddr;

/// The signed-in user of this request and their session, if any (disabled users are signed out).
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, StoreError> {
    let Some(session) = browser_session::current(state, headers).await? else {
        return Ok(None);
    };
    let user = state
        .store
        .find_user_by_id(&session.user_id)
        .await?
        .filter(|user| user.disabled_at.is_none());
    Ok(user.map(|user| (session, user)))
}

pub(super) fn account<'a>(state: &'a AppState, user: &'a User) -> Account<'a> {
    Account {
        store: state.store.as_ref(),
        revoker: state.revoker(),
        credentials: &state.credentials,
        throttle: state.sign_in_throttle.as_ref(),
        clock: state.clock.as_ref(),
        audit: &state.audit,
        user,
    }
}

pub(super) fn to_sign_in() -> Response {
    redirect_with(paths::SIGN_IN, &[("return_to", paths::ACCOUNT)])
}

pub(super) fn form(action: &str, csrf: &str, fields: &[(&str, &str)], label: &str) -> String {
    let mut hidden: Vec<(String, String)> = vec![("csrf_token".into(), csrf.into())];
    hidden.extend(
        fields
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    format!(
        "<form method=\"post\" action=\"{action}\">{}<button type=\"submit\">{}</button></form>",
        hidden_fields(&hidden),
        escape(label)
    )
}

/// The page, with an optional message above it.
pub(super) async fn render(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    user: &User,
    status: StatusCode,
    notice: Option<&str>,
) -> Response {
    let overview = match account(state, user).overview().await {
        Ok(overview) => overview,
        Err(error) => return unavailable_page(state, &error),
    };
    let (csrf, cookie) = csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    let sessions: String = overview
        .sessions
        .iter()
        .map(|other| {
            let this = if other.sid == session.sid {
                " (this browser)"
            } else {
                ""
            };
            let through = other
                .identity_provider
                .as_deref()
                .map(|id| {
                    let name = state.upstreams.get(id).map_or_else(
                        || id.to_owned(),
                        |upstream| upstream.settings.display_name.clone(),
                    );
                    format!(" through {}", escape(&name))
                })
                .unwrap_or_default();
            format!(
                "<li>Signed in {} with <code>{}</code>{through}{this}, last seen {} {}</li>",
                escape(&format_time(other.auth_time)),
                escape(&other.amr.to_string()),
                escape(&format_time(other.last_seen_at)),
                form(
                    "/account/sessions/end",
                    &csrf,
                    &[("sid", &other.sid)],
                    "Sign out"
                ),
            )
        })
        .collect();
    let applications: String = if overview.consents.is_empty() {
        "<p>You have not allowed any application.</p>".to_owned()
    } else {
        let items: String = overview
            .consents
            .iter()
            .map(|(client_id, scope, granted_at)| {
                format!(
                    "<li><strong>{}</strong>: <code>{}</code>, since {} {}</li>",
                    escape(client_id),
                    escape(scope),
                    escape(&format_time(*granted_at)),
                    form(
                        "/account/applications/revoke",
                        &csrf,
                        &[("client_id", client_id)],
                        "Remove access"
                    ),
                )
            })
            .collect();
        format!("<ul>{items}</ul>")
    };
    let notice = notice.map_or(String::new(), |text| {
        if status.is_success() {
            format!("<p role=\"status\"><strong>{}</strong></p>", escape(text))
        } else {
            format!("<p class=\"error\" role=\"alert\">{}</p>", escape(text))
        }
    });
    let two_step = match super::account_factors::section(state, user, &csrf).await {
        Ok(section) => section,
        Err(error) => return unavailable_page(state, &error),
    };
    let tokens = match super::account_tokens::section(state, user, &csrf).await {
        Ok(section) => section,
        Err(error) => return unavailable_page(state, &error),
    };
    let links = match super::account_links::section(state, user, &csrf).await {
        Ok(section) => section,
        Err(error) => return unavailable_page(state, &error),
    };
    let min = state.credentials.hasher().min_length();
    let body = format!(
        "{notice}<p>Signed in as <strong>{username}</strong>{email}. Roles: {roles}.</p>\
         <h2>Your sessions</h2><ul id=\"sessions\">{sessions}</ul>{end_all}\
         <h2>Applications</h2>{applications}\
         <h2>Change your password</h2><form method=\"post\" action=\"/account/password\">\
         <label for=\"current_password\">Current password</label>\
         <input type=\"password\" id=\"current_password\" name=\"current_password\" autocomplete=\"current-password\" required>\
         <label for=\"new_password\">New password</label>\
         <input type=\"password\" id=\"new_password\" name=\"new_password\" autocomplete=\"new-password\" minlength=\"{min}\" required>\
         {hidden}<button type=\"submit\">Change password</button></form>{two_step}{links}{tokens}{email_form}",
        username = escape(user.username.as_str()),
        email = user.email.as_deref().map_or(String::new(), |email| {
            let state = if user.email_verified() {
                "verified"
            } else {
                "not verified"
            };
            format!(" ({}, {state})", escape(email))
        }),
        end_all = form(
            "/account/sessions/end-all",
            &csrf,
            &[],
            "Sign out everywhere"
        ),
        email_form = if state.email.is_some() {
            format!(
                "<h2>Change your email address</h2><form method=\"post\" action=\"/account/email\">\
                 <label for=\"email\">New email address</label>\
                 <input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"email\" required>\
                 <label for=\"email_current_password\">Current password</label>\
                 <input type=\"password\" id=\"email_current_password\" name=\"current_password\" \
                 autocomplete=\"current-password\" required>\
                 {}<button type=\"submit\">Send a verification link</button></form>\
                 <p class=\"muted\">The new address is used once you follow the link we send to it.</p>",
                hidden_fields(&[("csrf_token".into(), csrf.clone())])
            )
        } else {
            String::new()
        },
        roles = escape(&if user.roles.is_empty() {
            "none".to_owned()
        } else {
            user.roles.join(", ")
        }),
        hidden = hidden_fields(&[("csrf_token".into(), csrf.clone())]),
    );
    Page {
        status,
        title: "Your account".to_owned(),
        body,
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

pub(super) async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers).await {
        Ok(Some((session, user))) => {
            render(&state, &headers, &session, &user, StatusCode::OK, None).await
        }
        Ok(None) => to_sign_in(),
        Err(error) => unavailable_page(&state, &error),
    }
}

/// The signed-in user and the posted form, CSRF checked; or the response to send instead.
pub(super) async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Session, User, OAuthParams), Response> {
    let (session, user) = match signed_in(state, headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(to_sign_in()),
        Err(error) => return Err(unavailable_page(state, &error)),
    };
    let (params, csrf_ok) = csrf::posted_form(state, headers, body);
    if !csrf_ok {
        let page = render(
            state,
            headers,
            &session,
            &user,
            StatusCode::FORBIDDEN,
            Some("The form expired or came from another site. Please try again."),
        )
        .await;
        return Err(page);
    }
    Ok((session, user, params))
}

/// As [`posted`], and the form's `current_password` checked like a sign-in (throttled): what a
/// change that weakens the account or mints a credential asks first. A wrong password is 401 on
/// the page, too many attempts 429.
pub(super) async fn posted_with_password(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    remote_addr: SocketAddr,
) -> Result<(Session, User, OAuthParams), Response> {
    let (session, user, params) = posted(state, headers, body).await?;
    let client = client_ip(state, headers, remote_addr);
    let password = params.get("current_password").unwrap_or_default();
    match account(state, &user)
        .check_current_password(password, client)
        .await
    {
        Ok(()) => Ok((session, user, params)),
        Err(AccountChangeError::Store(error)) => Err(unavailable_page(state, &error)),
        Err(error) => {
            let status = if matches!(error, AccountChangeError::Locked) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let message = error.to_string();
            Err(render(state, headers, &session, &user, status, Some(&message)).await)
        }
    }
}

/// The page after everything of the account ended: the message, a way back in, and the
/// session cookie cleared.
fn signed_out(state: &AppState, message: &str) -> Response {
    let mut response = Page {
        status: StatusCode::OK,
        title: "Signed out".to_owned(),
        body: format!(
            "{}<p><a href=\"{}\">Sign in</a></p>",
            pages::message(message),
            paths::SIGN_IN
        ),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name);
    response.headers_mut().append(
        header::SET_COOKIE,
        clear_session_cookie(state.settings.secure_cookies()),
    );
    response
}

/// What a posted account form asks for.
enum Act {
    EndSession,
    RemoveApplication,
}

async fn act(state: &AppState, headers: &HeaderMap, body: &Bytes, act: Act) -> Response {
    let (_, user, params) = match posted(state, headers, body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let account = account(state, &user);
    let done = match act {
        Act::EndSession => {
            account
                .end_session(params.get("sid").unwrap_or_default())
                .await
        }
        Act::RemoveApplication => {
            account
                .revoke_application(params.get("client_id").unwrap_or_default())
                .await
        }
    };
    match done {
        Ok(_) => redirect_with(paths::ACCOUNT, &[]),
        Err(error) => unavailable_page(state, &error),
    }
}

pub(super) async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(&state, &headers, &body, Act::EndSession).await
}

pub(super) async fn revoke_application(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    act(&state, &headers, &body, Act::RemoveApplication).await
}

pub(super) async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, user, params) = match posted(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let current = params.get("current_password").unwrap_or_default();
    let new = params.get("new_password").unwrap_or_default().to_owned();
    let client = client_ip(&state, &headers, remote_addr);
    match account(&state, &user)
        .change_password(current, new, client)
        .await
    {
        Ok(()) => signed_out(
            &state,
            "Your password was changed, and every session of your account was signed out.",
        ),
        Err(AccountChangeError::Store(error)) => unavailable_page(&state, &error),
        Err(error) => {
            let message = error.to_string();
            render(
                &state,
                &headers,
                &session,
                &user,
                StatusCode::BAD_REQUEST,
                Some(&message),
            )
            .await
        }
    }
}

pub(super) async fn end_all_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, user, _) = match posted(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    match account(&state, &user).end_all_sessions().await {
        Ok(()) => signed_out(
            &state,
            "Every session of your account was signed out, this one too.",
        ),
        Err(error) => unavailable_page(&state, &error),
    }
}

pub(super) async fn change_email(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, user, params) = match posted(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    if state.email.is_none() {
        return super::error_page(
            &state,
            StatusCode::NOT_FOUND,
            "Changing the email address needs email, which is not configured here.",
        );
    }
    let change = EmailChange {
        verification: super::email_verification::verification(&state),
        policy: &state.settings.registration,
        sign_in_page: &state.sign_in_page,
        forgot_page: &state.forgot_page,
    };
    let client = client_ip(&state, &headers, remote_addr);
    let outcome = account(&state, &user)
        .request_email_change(
            params.get("current_password").unwrap_or_default(),
            params.get("email").unwrap_or_default(),
            client,
            &change,
        )
        .await;
    let (status, notice) = match outcome {
        Ok(address) => (
            StatusCode::OK,
            format!(
                "We sent a link to {address}. Your address changes when you follow it; until \
                 then the current one stays."
            ),
        ),
        Err(AccountChangeError::Store(error)) => return unavailable_page(&state, &error),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()),
    };
    render(&state, &headers, &session, &user, status, Some(&notice)).await
}
