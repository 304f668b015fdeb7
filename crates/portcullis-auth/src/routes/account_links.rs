//! Sign-in providers on the account page: the account's links (remove one) and a button per
//! provider not yet linked. Linking sends the signed-in owner through the provider; the link is
//! made only if they come back to the same account (proof of both).

use super::account::{form, posted, render};
use super::federation::to_provider;
use super::{paths, redirect_with, unavailable_page};
use crate::client_ip::client_ip;
use crate::pages::{escape, format_time};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::{AuditEvent, User};
use portcullis_service::StoreError;
use portcullis_service::federation::Intent;
use std::net::SocketAddr;

/// Linking a provider.
pub const LINK: &str = "/account/links";
/// Removing a link.
pub const UNLINK: &str = "/account/links/remove";

/// The account page's section; empty when no provider is configured.
///
/// # Errors
/// Store failures.
pub(super) async fn section(
    state: &AppState,
    user: &User,
    csrf: &str,
) -> Result<String, StoreError> {
    if state.upstreams.all().is_empty() {
        return Ok(String::new());
    }
    let links = state.store.federated_identities_of(&user.id).await?;
    let items: String = state
        .upstreams
        .all()
        .iter()
        .map(|upstream| {
            let id = upstream.settings.id.as_str();
            let name = escape(&upstream.settings.display_name);
            match links.iter().find(|link| link.provider == id) {
                Some(link) => format!(
                    "<li><strong>{name}</strong>: linked{as_whom} since {since} {remove}</li>",
                    as_whom = link
                        .email
                        .as_deref()
                        .map(|email| format!(" as {}", escape(email)))
                        .unwrap_or_default(),
                    since = escape(&format_time(link.linked_at)),
                    remove = form(UNLINK, csrf, &[("provider", id)], "Remove"),
                ),
                None => format!(
                    "<li><strong>{name}</strong>: not linked {link}</li>",
                    link = form(
                        LINK,
                        csrf,
                        &[("provider", id)],
                        &format!("Link {}", upstream.settings.display_name)
                    ),
                ),
            }
        })
        .collect();
    Ok(format!(
        "<h2>Sign-in providers</h2><ul id=\"links\">{items}</ul>"
    ))
}

/// `POST /account/links`: to the provider, to link it to this account.
pub(super) async fn link(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, user, params) = match posted(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let provider = params.get("provider").unwrap_or_default();
    let Some(upstream) = state.upstreams.get(provider) else {
        return render(
            &state,
            &headers,
            &session,
            &user,
            StatusCode::BAD_REQUEST,
            Some("There is no such sign-in provider."),
        )
        .await;
    };
    let intent = Intent::Link {
        user_id: user.id.clone(),
    };
    to_provider(
        &state,
        &headers,
        &upstream,
        intent,
        paths::ACCOUNT.to_owned(),
    )
    .await
}

/// `POST /account/links/remove`: removes a link, unless it is the account's only way in (no
/// other link and no verified address to reset the password through).
pub(super) async fn unlink(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, user, params) = match posted(&state, &headers, &body).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    let provider = params.get("provider").unwrap_or_default().to_owned();
    let links = match state.store.federated_identities_of(&user.id).await {
        Ok(links) => links,
        Err(error) => return unavailable_page(&state, &error),
    };
    let last_way_in = links.len() == 1 && !user.email_verified();
    if last_way_in && links.iter().any(|link| link.provider == provider) {
        return render(
            &state,
            &headers,
            &session,
            &user,
            StatusCode::CONFLICT,
            Some("This link is the only way into your account. Verify an email address first (to set a password), or link another provider."),
        )
        .await;
    }
    match state
        .store
        .unlink_federated_identity(&user.id, &provider)
        .await
    {
        Ok(true) => {
            state.audit.record(&AuditEvent::Federation {
                provider,
                user_id: Some(user.id.clone()),
                action: "unlinked".to_owned(),
                reason: None,
                remote_addr: Some(client_ip(&state, &headers, remote_addr).to_string()),
            });
            redirect_with(paths::ACCOUNT, &[])
        }
        Ok(false) => {
            render(
                &state,
                &headers,
                &session,
                &user,
                StatusCode::NOT_FOUND,
                Some("That provider is not linked."),
            )
            .await
        }
        Err(error) => unavailable_page(&state, &error),
    }
}
