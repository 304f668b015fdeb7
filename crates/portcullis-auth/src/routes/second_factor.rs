//! The second step of sign-in. Once the first factor is proven (a password, or a sign-in at an
//! upstream provider), a user with an authenticator app is
//! asked for its code (`/signin/code`); a user who must use a second factor (the MFA policy, the
//! client's `require_mfa`, or the request's `acr_values`) and has none sets one up first
//! (`/signin/enroll`). Only then does the session start, with `amr` naming both factors.

use super::sign_in::safe_return_to;
use super::{paths, redirect_with, unavailable_page};
use crate::client_ip::client_ip;
use crate::factor_pages;
use crate::form::OAuthParams;
use crate::pages::Page;
use crate::pending_sign_in::{self, PendingSignIn};
use crate::state::AppState;
use crate::{browser_session, csrf};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_core::{Acr, AuditEvent, AuthMethod, AuthMethods, User};
use portcullis_service::{FactorError, StoreError};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

/// Entering the code of the user's app.
pub const CODE: &str = "/signin/code";
/// Setting up an app before the first sign-in that needs one.
pub const ENROLL: &str = "/signin/enroll";

#[derive(Debug, Deserialize)]
pub(super) struct ReturnQuery {
    return_to: Option<String>,
}

/// Where the sign-in goes once the first factor (`amr`, through `identity_provider` if any) was
/// proven: `None` when it is enough (the caller starts the session), else a redirect to the second step with the pending sign-in's
/// cookie.
///
/// # Errors
/// Store failures.
pub(super) async fn after_first_factor(
    state: &AppState,
    user: &User,
    return_to: &str,
    amr: AuthMethods,
    identity_provider: Option<String>,
) -> Result<Option<Response>, StoreError> {
    // A user without a factor sets one up here only when the policy or the client demands it;
    // a request's `acr_values` alone does not let whoever knows the password add their own app
    // (`/authorize` answers it with `unmet_authentication_requirements` instead).
    let step = if state.second_factors().has_second_factor(user).await? {
        CODE
    } else if forced_acr(state, user, return_to).await? >= Acr::MultiFactor {
        ENROLL
    } else {
        return Ok(None);
    };
    let pending = PendingSignIn {
        user_id: user.id.clone(),
        amr,
        identity_provider,
        started_at: state.clock.now(),
    };
    let mut response = redirect_with(step, &[("return_to", return_to)]);
    response.headers_mut().append(
        header::SET_COOKIE,
        pending_sign_in::cookie(
            &state.pending_key,
            &pending,
            state.settings.secure_cookies(),
        ),
    );
    Ok(Some(response))
}

/// The level the MFA policy sets for this sign-in: for the user, and, when it continues an
/// authorization request, for its client (`require_mfa`).
async fn forced_acr(state: &AppState, user: &User, return_to: &str) -> Result<Acr, StoreError> {
    // The device page names its device's client too: naming another can only raise the
    // user's own requirement.
    let request = return_to
        .strip_prefix(paths::AUTHORIZE)
        .or_else(|| return_to.strip_prefix(paths::DEVICE))
        .and_then(|rest| rest.strip_prefix('?'))
        .and_then(|query| OAuthParams::from_query(query).ok());
    let client = match request.as_ref().and_then(|params| params.get("client_id")) {
        Some(id) => state.store.find_client(id).await?,
        None => None,
    };
    let client_requires = client.is_some_and(|client| client.require_mfa);
    Ok(state
        .settings
        .sign_in
        .mfa
        .required_acr(&user.roles, client_requires, None))
}

/// The pending sign-in of this request and its user (still enabled), if any.
pub(super) async fn pending_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(PendingSignIn, User)>, StoreError> {
    let Some(pending) = pending_sign_in::read(
        &state.pending_key,
        headers,
        state.clock.now(),
        state.settings.secure_cookies(),
    ) else {
        return Ok(None);
    };
    let user = state
        .store
        .find_user_by_id(&pending.user_id)
        .await?
        .filter(|user| user.disabled_at.is_none());
    Ok(user.map(|user| (pending, user)))
}

/// Back to the password when the pending sign-in expired or never was.
fn restart(return_to: &str) -> Response {
    redirect_with(paths::SIGN_IN, &[("return_to", return_to)])
}

fn page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    body: String,
    cookies: Vec<HeaderValue>,
) -> Response {
    Page {
        status,
        title: title.to_owned(),
        body,
        cookies,
    }
    .render(&state.settings.sign_in.product_name)
}

/// The second step's page: the code form when the user has an app, the passkey button when
/// the user has passkeys.
async fn code_page(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    status: StatusCode,
    return_to: &str,
    error: Option<&str>,
) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    let factors = match state.second_factors().status(user).await {
        Ok(factors) => factors,
        Err(error) => return unavailable_page(state, &error),
    };
    let mut body = if factors.totp {
        factor_pages::code_form(CODE, &token, &[("return_to", return_to)], "Verify", error)
    } else {
        error.map_or(String::new(), |message| {
            format!(
                "<p class=\"error\" role=\"alert\">{}</p>",
                crate::pages::escape(message)
            )
        })
    };
    if factors.passkeys > 0 && state.relying_party.is_some() {
        body.push_str(&factor_pages::passkey_block(
            factor_pages::PasskeyMode::SecondFactor,
            return_to,
        ));
    }
    page(
        state,
        status,
        "Two-step verification",
        body,
        cookie.into_iter().collect(),
    )
}

pub(super) async fn code_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ReturnQuery>,
) -> Response {
    let return_to = safe_return_to(query.return_to.as_deref());
    match pending_user(&state, &headers).await {
        Ok(Some((_, user))) => {
            code_page(&state, &headers, &user, StatusCode::OK, &return_to, None).await
        }
        Ok(None) => restart(&return_to),
        Err(error) => unavailable_page(&state, &error),
    }
}

/// The submitted form's CSRF-checked fields, the return target and the pending sign-in.
struct Submission {
    params: OAuthParams,
    return_to: String,
    client: IpAddr,
}

fn submission(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &Bytes,
) -> Result<Submission, String> {
    let params = OAuthParams::from_form_body(headers, body).unwrap_or_default();
    let return_to = safe_return_to(params.get("return_to"));
    let valid = csrf::is_valid(
        &state.csrf_key,
        headers,
        params.get("csrf_token"),
        state.settings.secure_cookies(),
    );
    if !valid {
        return Err(return_to);
    }
    Ok(Submission {
        client: client_ip(state, headers, remote_addr),
        params,
        return_to,
    })
}

const FORM_EXPIRED: &str = "The form expired or came from another site. Please try again.";

pub(super) async fn code_submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (pending, user) = match pending_user(&state, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return restart(""),
        Err(error) => return unavailable_page(&state, &error),
    };
    let form = match submission(&state, &headers, remote_addr, &body) {
        Ok(form) => form,
        Err(return_to) => {
            let status = StatusCode::FORBIDDEN;
            return code_page(
                &state,
                &headers,
                &user,
                status,
                &return_to,
                Some(FORM_EXPIRED),
            )
            .await;
        }
    };
    let code = form.params.get("code").unwrap_or_default();
    match state
        .second_factors()
        .verify(&user, code, form.client, state.factor_notice())
        .await
    {
        Ok(method) => {
            let amr = pending.amr.with(&[method]);
            let response = redirect_with(&continue_to(&form.return_to), &[]);
            let provider = pending.identity_provider;
            signed_in(
                &state,
                &headers,
                &user,
                amr,
                provider,
                form.client,
                response,
            )
            .await
        }
        Err(error) => {
            refused_code(&state, &user, form.client, &error);
            let status = code_status(&error);
            match error {
                FactorError::Store(error) => unavailable_page(&state, &error),
                error => {
                    let message = error.to_string();
                    code_page(
                        &state,
                        &headers,
                        &user,
                        status,
                        &form.return_to,
                        Some(&message),
                    )
                    .await
                }
            }
        }
    }
}

/// The status of a refused code: 429 while locked, 403 once blocked, 401 otherwise.
pub(super) fn code_status(error: &FactorError) -> StatusCode {
    match error {
        FactorError::Locked => StatusCode::TOO_MANY_REQUESTS,
        FactorError::Blocked => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    }
}

/// Audits a refused second factor as a failed sign-in.
fn refused_code(state: &AppState, user: &User, client: IpAddr, error: &FactorError) {
    let reason = match error {
        FactorError::Locked => "locked",
        FactorError::Blocked => "second factor blocked",
        FactorError::WrongCode => "wrong second factor",
        _ => return,
    };
    state.audit.record(&AuditEvent::SignIn {
        username: user.username.to_string(),
        success: false,
        reason: Some(reason.to_owned()),
        remote_addr: Some(client.to_string()),
    });
}

/// Where a completed sign-in goes: the authorization request, or the account page.
pub(super) fn continue_to(return_to: &str) -> String {
    if return_to.is_empty() {
        paths::ACCOUNT.to_owned()
    } else {
        return_to.to_owned()
    }
}

/// Starts the session (both factors proven), audits the sign-in, ends the pending sign-in, and
/// sends `response` with both cookies.
pub(super) async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    amr: AuthMethods,
    identity_provider: Option<String>,
    client: IpAddr,
    mut response: Response,
) -> Response {
    let started = browser_session::start(state, headers, user, amr, identity_provider).await;
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
    let secure = state.settings.secure_cookies();
    let cookies = response.headers_mut();
    cookies.append(header::SET_COOKIE, cookie);
    cookies.append(header::SET_COOKIE, pending_sign_in::clear(secure));
    response
}

fn enroll_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    enrollment: &portcullis_service::TotpEnrollment,
    return_to: &str,
    error: Option<&str>,
) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    let body = factor_pages::totp_setup(
        enrollment,
        ENROLL,
        &token,
        &[("return_to", return_to)],
        false,
        error,
    );
    page(
        state,
        status,
        "Set up two-step verification",
        body,
        cookie.into_iter().collect(),
    )
}

pub(super) async fn enroll_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ReturnQuery>,
) -> Response {
    let return_to = safe_return_to(query.return_to.as_deref());
    let user = match pending_user(&state, &headers).await {
        Ok(Some((_, user))) => user,
        Ok(None) => return restart(&return_to),
        Err(error) => return unavailable_page(&state, &error),
    };
    // Setting up happens here only for a user with no second factor at all: one who has a
    // passkey proves it instead, never replaces it with an app of whoever knows the password.
    match state.second_factors().has_second_factor(&user).await {
        Ok(true) => return redirect_with(CODE, &[("return_to", &return_to)]),
        Ok(false) => {}
        Err(error) => return unavailable_page(&state, &error),
    }
    match state.second_factors().begin_totp(&user).await {
        Ok(enrollment) => enroll_page(
            &state,
            &headers,
            StatusCode::OK,
            &enrollment,
            &return_to,
            None,
        ),
        // Set up meanwhile (another tab): its code is what is due.
        Err(FactorError::AlreadyEnrolled) => redirect_with(CODE, &[("return_to", &return_to)]),
        Err(FactorError::Store(error)) => unavailable_page(&state, &error),
        Err(error) => {
            tracing::error!(%error, "one-time-code setup failed");
            super::error_page(&state, StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
    }
}

pub(super) async fn enroll_submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A forged or expired form shows no setup: the user starts again.
    let form = match submission(&state, &headers, remote_addr, &body) {
        Ok(form) => form,
        Err(return_to) => return redirect_with(ENROLL, &[("return_to", &return_to)]),
    };
    let (pending, user) = match pending_user(&state, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => return restart(&form.return_to),
        Err(error) => return unavailable_page(&state, &error),
    };
    let factors = state.second_factors();
    match factors.has_second_factor(&user).await {
        Ok(true) => return redirect_with(CODE, &[("return_to", &form.return_to)]),
        Ok(false) => {}
        Err(error) => return unavailable_page(&state, &error),
    }
    let setup = form.params.get("setup").unwrap_or_default();
    let code = form.params.get("code").unwrap_or_default();
    let return_to = form.return_to.as_str();
    match factors
        .confirm_totp(&user, setup, code, form.client, state.factor_notice())
        .await
    {
        Ok(codes) => {
            let amr = pending.amr.with(&[AuthMethod::OneTimeCode]);
            let shown = page(
                &state,
                StatusCode::OK,
                "Save your recovery codes",
                factor_pages::recovery_codes(&codes, &continue_to(return_to)),
                Vec::new(),
            );
            let provider = pending.identity_provider;
            signed_in(&state, &headers, &user, amr, provider, form.client, shown).await
        }
        Err(FactorError::Store(error)) => unavailable_page(&state, &error),
        Err(FactorError::AlreadyEnrolled) => redirect_with(CODE, &[("return_to", return_to)]),
        Err(error @ (FactorError::WrongCode | FactorError::Locked)) => {
            refused_code(&state, &user, form.client, &error);
            match factors.reopen_totp(&user, setup) {
                Ok(enrollment) => enroll_page(
                    &state,
                    &headers,
                    code_status(&error),
                    &enrollment,
                    return_to,
                    Some(&error.to_string()),
                ),
                Err(_) => redirect_with(ENROLL, &[("return_to", return_to)]),
            }
        }
        Err(_) => redirect_with(ENROLL, &[("return_to", return_to)]),
    }
}
