//! Personal access tokens on the account page: the user's tokens (name, scope, networks,
//! expiry, last use; revoke one) and a form to make one, shown once (the page is `no-store`).

use super::account::{form, posted, posted_with_password, render};
use super::{paths, redirect_with, unavailable_page};
use crate::pages::{escape, format_time};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::personal_access_token::{TokenOwner, TokenRequest};
use portcullis_core::{ScopeSet, User};
use portcullis_service::StoreError;
use portcullis_service::personal_access_tokens::TokenKeyError;
use std::net::SocketAddr;

/// Making a token.
pub const CREATE: &str = "/account/tokens";
/// Revoking one.
pub const REVOKE: &str = "/account/tokens/revoke";
/// The prefix of the scope checkboxes' names (`scope.products:read`): form parameters may not
/// repeat.
const SCOPE_FIELD: &str = "scope.";

/// The account page's section; empty when users may not make tokens.
///
/// # Errors
/// Store failures.
pub(super) async fn section(
    state: &AppState,
    user: &User,
    csrf: &str,
) -> Result<String, StoreError> {
    let policy = &state.settings.personal_access_tokens;
    if !policy.enabled {
        return Ok(String::new());
    }
    let owner = TokenOwner::User(user.id.clone());
    let tokens = state.personal_access_tokens().list(&owner).await?;
    let items: String = tokens
        .iter()
        .map(|token| {
            let used = token.last_used_at.map_or("never used".to_owned(), |at| {
                format!("last used {}", format_time(at))
            });
            let networks = if token.networks.is_empty() {
                String::new()
            } else {
                format!(", from {}", escape(&token.networks.join(" ")))
            };
            format!(
                "<li><strong>{name}</strong>: <code>{scope}</code>{networks}, expires {expires}, \
                 {used} {revoke}</li>",
                name = escape(&token.name),
                scope = escape(&token.scope.to_string()),
                expires = escape(&format_time(token.expires_at)),
                revoke = form(REVOKE, csrf, &[("token_id", &token.id)], "Revoke"),
            )
        })
        .collect();
    let list = if items.is_empty() {
        "<p>You have no tokens.</p>".to_owned()
    } else {
        format!("<ul id=\"tokens\">{items}</ul>")
    };
    let offered =
        portcullis_service::roles::scope_for_user(state.store.as_ref(), user, &policy.user_scopes)
            .await?;
    let choices: String = offered
        .iter()
        .map(|scope| {
            format!(
                "<label><input type=\"checkbox\" name=\"{SCOPE_FIELD}{scope}\" value=\"{scope}\"> \
                 <code>{scope}</code></label>",
                scope = escape(scope)
            )
        })
        .collect();
    Ok(format!(
        "<h2>Personal access tokens</h2><p class=\"muted\">For scripts and CI jobs: sent as \
         <code>Authorization: Bearer</code>, shown once.</p>{list}\
         <form method=\"post\" action=\"{CREATE}\">\
         <label for=\"token_name\">Name</label>\
         <input id=\"token_name\" name=\"name\" maxlength=\"100\" required>\
         <fieldset><legend>Scopes</legend>{choices}</fieldset>\
         <label for=\"token_days\">Days it lives</label>\
         <input type=\"number\" id=\"token_days\" name=\"days\" min=\"1\" max=\"{max}\" value=\"{default}\" required>\
         <label for=\"token_networks\">Only from these networks (optional, space-separated)</label>\
         <input id=\"token_networks\" name=\"networks\" placeholder=\"203.0.113.0/24\">\
         <label for=\"token_password\">Current password</label>\
         <input type=\"password\" id=\"token_password\" name=\"current_password\" \
         autocomplete=\"current-password\" required>\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
         <button type=\"submit\">Make a token</button></form>",
        max = policy.max_lifetime_days,
        default = policy.max_lifetime_days.min(30),
        csrf = escape(csrf),
    ))
}

/// `POST /account/tokens`: makes a token and shows it once. The current password is asked
/// first: a borrowed session alone must not become a credential that outlives it.
pub(super) async fn create(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, user, params) =
        match posted_with_password(&state, &headers, &body, remote_addr).await {
            Ok(posted) => posted,
            Err(response) => return response,
        };
    let scope = params
        .values_under(SCOPE_FIELD)
        .collect::<Vec<_>>()
        .join(" ");
    let request = ScopeSet::parse(&scope).ok().map(|scope| TokenRequest {
        name: params.get("name").unwrap_or_default().to_owned(),
        scope,
        lifetime_days: params
            .get("days")
            .and_then(|days| days.trim().parse().ok())
            .unwrap_or(0),
        networks: params
            .get("networks")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    });
    let outcome = match request {
        Some(request) => {
            state
                .personal_access_tokens()
                .create(TokenOwner::User(user.id.clone()), request, "owner")
                .await
        }
        None => Err(TokenKeyError::Request(
            portcullis_core::personal_access_token::TokenRequestError::NoScope,
        )),
    };
    let (status, notice) = match outcome {
        Ok((record, token)) => (
            StatusCode::OK,
            format!(
                "Your new token {}: {token} — copy it now, it is not shown again.",
                record.name
            ),
        ),
        Err(TokenKeyError::Store(error)) => return unavailable_page(&state, &error),
        Err(error) => (StatusCode::BAD_REQUEST, error.to_string()),
    };
    render(&state, &headers, &session, &user, status, Some(&notice)).await
}

/// `POST /account/tokens/revoke`: revokes one of the user's tokens.
pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, user, params) = match posted(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let owner = TokenOwner::User(user.id.clone());
    let id = params.get("token_id").unwrap_or_default();
    match state
        .personal_access_tokens()
        .revoke(&owner, id, "owner")
        .await
    {
        Ok(_) => redirect_with(paths::ACCOUNT, &[]),
        Err(error) => unavailable_page(&state, &error),
    }
}
