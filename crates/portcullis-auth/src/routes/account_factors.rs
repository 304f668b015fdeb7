//! Two-step verification on the account page: set up an authenticator app (QR code, then the
//! password and a first code, then recovery codes shown once), make new recovery codes, or turn
//! it off. Setting up needs the password and the others a current code, so a borrowed session
//! alone can neither take the account over with its own app nor weaken it.

use super::account::{posted, posted_with_password, render, signed_in, to_sign_in};
use super::{error_page, paths, unavailable_page};
use crate::client_ip::client_ip;
use crate::csrf;
use crate::factor_pages;
use crate::pages::{Page, escape, format_time};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::{Session, User};
use portcullis_service::{AccountChangeError, FactorError, StoreError, TotpEnrollment};
use std::net::SocketAddr;

/// Setting up an app from the account page.
pub const SETUP: &str = "/account/two-step/setup";
/// Turning two-step verification off.
pub const REMOVE: &str = "/account/two-step/remove";
/// Making a new set of recovery codes.
pub const RECOVERY_CODES: &str = "/account/two-step/recovery-codes";
/// Removing a passkey.
pub const REMOVE_PASSKEY: &str = "/account/passkeys/remove";

/// The account page's section.
///
/// # Errors
/// Store failures.
pub(super) async fn section(
    state: &AppState,
    user: &User,
    csrf: &str,
) -> Result<String, StoreError> {
    let status = state.second_factors().status(user).await?;
    let passkeys = passkeys_section(state, user, csrf).await?;
    let app = if status.totp {
        format!(
            "<h2>Two-step verification</h2><p>On: sign-in asks for a code from your \
             authenticator app. {left} unused recovery codes left.</p>{regenerate}{remove}",
            left = status.recovery_codes_left,
            regenerate =
                factor_pages::code_form(RECOVERY_CODES, csrf, &[], "Make new recovery codes", None),
            remove =
                factor_pages::code_form(REMOVE, csrf, &[], "Turn off two-step verification", None),
        )
    } else {
        format!(
            "<h2>Two-step verification</h2><p>Off. Add a code from an authenticator app to \
             every sign-in.</p><p><a href=\"{}\">Set up an authenticator app</a></p>",
            escape(SETUP)
        )
    };
    Ok(format!("{app}{passkeys}"))
}

/// The account page's passkeys: each with a button to remove it, and a way to add one (when
/// the issuer is on a domain name).
async fn passkeys_section(state: &AppState, user: &User, csrf: &str) -> Result<String, StoreError> {
    let Some(passkeys) = state.passkeys() else {
        return Ok(String::new());
    };
    let items: String = passkeys
        .list(user)
        .await?
        .iter()
        .map(|passkey| {
            let used = passkey.last_used_at.map_or("never used".to_owned(), |at| {
                format!("last used {}", format_time(at))
            });
            let id = portcullis_jose::base64url::encode(&passkey.credential_id);
            format!(
                "<li><strong>{name}</strong>{synced}, added {added}, {used} {remove}</li>",
                name = escape(&passkey.name),
                synced = if passkey.backup_eligible {
                    " (synced)"
                } else {
                    ""
                },
                added = escape(&format_time(passkey.created_at)),
                used = escape(&used),
                remove = remove_form(csrf, &id, &passkey.name),
            )
        })
        .collect();
    let list = if items.is_empty() {
        "<p>No passkeys yet. A passkey signs you in without a password, or after it.</p>".to_owned()
    } else {
        format!("<ul id=\"passkey-list\">{items}</ul>")
    };
    Ok(format!(
        "<h2>Passkeys and security keys</h2>{list}{add}",
        add = factor_pages::passkey_block(factor_pages::PasskeyMode::Register, "")
    ))
}

/// The form removing one passkey: it asks for the password, so a borrowed session cannot strip
/// the account's passkeys.
fn remove_form(csrf: &str, credential_id: &str, name: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{REMOVE_PASSKEY}\">{hidden}\
         <label>Your password, to remove {name}\
         <input type=\"password\" name=\"current_password\" autocomplete=\"current-password\" \
         required></label><button type=\"submit\">Remove</button></form>",
        hidden = crate::pages::hidden_fields(&[
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("credential_id".to_owned(), credential_id.to_owned()),
        ]),
        name = escape(name),
    )
}

/// `POST /account/passkeys/remove`: removes one of the user's passkeys (the password checked
/// first).
pub(super) async fn remove_passkey(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(passkeys) = state.passkeys() else {
        return error_page(&state, StatusCode::NOT_FOUND, "Passkeys are off.");
    };
    let (session, user, params) =
        match posted_with_password(&state, &headers, &body, remote_addr).await {
            Ok(found) => found,
            Err(response) => return response,
        };
    let id = params
        .get("credential_id")
        .and_then(portcullis_jose::base64url::decode)
        .unwrap_or_default();
    match passkeys.remove(&user, &id, state.factor_notice()).await {
        Ok(true) => {
            render(
                &state,
                &headers,
                &session,
                &user,
                StatusCode::OK,
                Some("The passkey was removed."),
            )
            .await
        }
        Ok(false) => {
            render(
                &state,
                &headers,
                &session,
                &user,
                StatusCode::NOT_FOUND,
                Some("No such passkey."),
            )
            .await
        }
        Err(error) => unavailable_page(&state, &error),
    }
}

fn setup_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    enrollment: &TotpEnrollment,
    error: Option<&str>,
) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    Page {
        status,
        title: "Set up two-step verification".to_owned(),
        body: factor_pages::totp_setup(enrollment, SETUP, &token, &[], true, error),
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

fn codes_page(state: &AppState, codes: &[String]) -> Response {
    Page {
        status: StatusCode::OK,
        title: "Save your recovery codes".to_owned(),
        body: factor_pages::recovery_codes(codes, paths::ACCOUNT),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}

/// A refusal as a page: the store's failure, or the account page with the reason.
async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    session: &Session,
    user: &User,
    error: FactorError,
) -> Response {
    match error {
        FactorError::Store(error) => unavailable_page(state, &error),
        FactorError::Sealing | FactorError::Randomness => {
            tracing::error!(%error, "second factor");
            error_page(state, StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
        error => {
            let status = match error {
                FactorError::WrongCode | FactorError::Locked | FactorError::Blocked => {
                    super::second_factor::code_status(&error)
                }
                _ => StatusCode::CONFLICT,
            };
            render(
                state,
                headers,
                session,
                user,
                status,
                Some(&error.to_string()),
            )
            .await
        }
    }
}

pub(super) async fn setup_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (session, user) = match signed_in(&state, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return to_sign_in(),
        Err(error) => return unavailable_page(&state, &error),
    };
    match state.second_factors().begin_totp(&user).await {
        Ok(enrollment) => setup_page(&state, &headers, StatusCode::OK, &enrollment, None),
        Err(error) => refused(&state, &headers, &session, &user, error).await,
    }
}

pub(super) async fn setup_submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (session, user, params) = match posted(&state, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let client = client_ip(&state, &headers, remote_addr);
    let factors = state.second_factors();
    let setup = params.get("setup").unwrap_or_default();
    let Ok(enrollment) = factors.reopen_totp(&user, setup) else {
        let error = FactorError::SetupExpired;
        return refused(&state, &headers, &session, &user, error).await;
    };
    let password = params.get("current_password").unwrap_or_default();
    let checked = super::account::account(&state, &user)
        .check_current_password(password, client)
        .await;
    let refusal = match checked {
        Ok(()) => {
            let code = params.get("code").unwrap_or_default();
            match factors
                .confirm_totp(&user, setup, code, client, state.factor_notice())
                .await
            {
                Ok(codes) => return codes_page(&state, &codes),
                Err(error @ (FactorError::WrongCode | FactorError::Locked)) => {
                    (super::second_factor::code_status(&error), error.to_string())
                }
                Err(error) => return refused(&state, &headers, &session, &user, error).await,
            }
        }
        Err(AccountChangeError::Store(error)) => return unavailable_page(&state, &error),
        Err(AccountChangeError::Locked) => (
            StatusCode::TOO_MANY_REQUESTS,
            AccountChangeError::Locked.to_string(),
        ),
        Err(error) => (StatusCode::UNAUTHORIZED, error.to_string()),
    };
    let (status, message) = refusal;
    setup_page(&state, &headers, status, &enrollment, Some(&message))
}

/// What a code-confirmed form on the account page does.
#[derive(Clone, Copy)]
enum Change {
    Remove,
    NewRecoveryCodes,
}

async fn with_code(
    state: &AppState,
    remote_addr: SocketAddr,
    headers: &HeaderMap,
    body: &Bytes,
    change: Change,
) -> Response {
    let (session, user, params) = match posted(state, headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let client = client_ip(state, headers, remote_addr);
    let factors = state.second_factors();
    let code = params.get("code").unwrap_or_default();
    if let Err(error) = factors
        .verify(&user, code, client, state.factor_notice())
        .await
    {
        return refused(state, headers, &session, &user, error).await;
    }
    match change {
        Change::Remove => match factors.remove_all(&user, state.factor_notice()).await {
            Ok(_) => {
                render(
                    state,
                    headers,
                    &session,
                    &user,
                    StatusCode::OK,
                    Some("Two-step verification is off."),
                )
                .await
            }
            Err(error) => unavailable_page(state, &error),
        },
        Change::NewRecoveryCodes => match factors.regenerate_recovery_codes(&user).await {
            Ok(codes) => codes_page(state, &codes),
            Err(error) => refused(state, headers, &session, &user, error).await,
        },
    }
}

pub(super) async fn remove(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_code(&state, remote_addr, &headers, &body, Change::Remove).await
}

pub(super) async fn new_recovery_codes(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_code(
        &state,
        remote_addr,
        &headers,
        &body,
        Change::NewRecoveryCodes,
    )
    .await
}
