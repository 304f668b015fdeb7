//! "Sign in with …": `GET /federation/<id>/start` sends the browser to the provider with a new
//! flow (its cookie keeps `state`, `nonce` and the PKCE verifier); `GET /federation/<id>/callback`
//! checks the provider's answer, resolves the local account, and continues like a password
//! sign-in (a second factor when the policy asks, then the session and the authorization
//! request that sent the user here). Every refusal is audited and shown as a page naming what
//! went wrong; the local sign-in stays available.

use super::sign_in::safe_return_to;
use super::{paths, redirect_with, unavailable_page};
use crate::browser_session;
use crate::client_ip::client_ip;
use crate::federation::answer::{self, AnswerError};
use crate::federation::flow::{self, Flow};
use crate::federation::logout;
use crate::federation::{Upstream, start_path};
use crate::pages::{self, Page};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use portcullis_core::replay::FirstUse;
use portcullis_core::{AuditEvent, AuthMethods};
use portcullis_sdk::client::Callback;
use portcullis_service::federation::{
    AccountRules, Federation, FederationError, Intent, Resolution,
};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

#[derive(Debug, Deserialize)]
pub(super) struct StartQuery {
    return_to: Option<String>,
}

/// `GET /federation/<id>/start`: to the provider, to sign in.
pub(super) async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<StartQuery>,
) -> Response {
    let return_to = safe_return_to(query.return_to.as_deref());
    let Some(upstream) = state.upstreams.get(&id) else {
        return unknown_provider(&state, &return_to);
    };
    to_provider(&state, &headers, &upstream, Intent::SignIn, return_to).await
}

/// The redirect to `upstream`'s authorization endpoint for a new flow of `intent`.
pub(super) async fn to_provider(
    state: &AppState,
    headers: &HeaderMap,
    upstream: &Upstream,
    intent: Intent,
    return_to: String,
) -> Response {
    let relying_party = match upstream.relying_party().await {
        Ok(relying_party) => relying_party,
        Err(error) => {
            tracing::warn!(provider = %upstream.settings.id, %error, "upstream provider unavailable");
            return unavailable(state, upstream, &return_to);
        }
    };
    let (pending, location) = match relying_party.start(&upstream.settings.scopes, &[]) {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(%error, "no flow started");
            return unavailable(state, upstream, &return_to);
        }
    };
    let flow = Flow {
        provider: upstream.settings.id.clone(),
        pending,
        intent,
        started_at: state.clock.now(),
        return_to,
    };
    let mut response = redirect_with(&location, &[]);
    for cookie in flow::start(
        &state.pending_key,
        headers,
        &flow,
        state.settings.secure_cookies(),
    ) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /federation/<id>/callback`: the provider's answer.
pub(super) async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let client = client_ip(&state, &headers, remote_addr);
    let secure = state.settings.secure_cookies();
    let Some(upstream) = state.upstreams.get(&id) else {
        return unknown_provider(&state, "");
    };
    let returned_state = Callback::parse(&query).state.unwrap_or_default();
    let now = state.clock.now();
    let found = flow::read(&state.pending_key, &headers, &returned_state, now, secure)
        .filter(|flow| flow.provider == id);
    let mut response = match found {
        None => {
            // RFC 6749 §10.12: a callback without this browser's flow is someone else's (login
            // CSRF), a replay after the flow ended, or one that came too late.
            refused(&state, &id, None, "state does not match", client);
            page(
                &state,
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "This sign-in did not start in this browser, was used already, or took too long. Please start again.",
                "",
            )
        }
        Some(flow) => finish(&state, &headers, &upstream, &flow, &query, client).await,
    };
    if let Some(end) = flow::end(&returned_state, secure) {
        response.headers_mut().append(header::SET_COOKIE, end);
    }
    response
}

/// The callback of a genuine flow: used once, checked, then the account signed in or linked.
async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    upstream: &Upstream,
    flow: &Flow,
    query: &str,
    client: IpAddr,
) -> Response {
    let id = upstream.settings.id.as_str();
    // Once only, across the cluster: a replayed callback is refused even with the cookie. Only
    // an answer with a code is remembered (an error answer redeems nothing), and a full memory
    // refuses rather than letting a replay through.
    if Callback::parse(query).code.is_some() {
        let key = format!("federation-state:{}", flow.pending.state);
        let until = flow.started_at + flow::FLOW_LIFETIME_SECS;
        let first = state
            .client_assertions
            .first_use(&key, until, state.clock.now())
            .await;
        match first {
            FirstUse::Yes => {}
            FirstUse::Replayed => {
                refused(state, id, None, "callback replayed", client);
                return page(
                    state,
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed",
                    "This sign-in was used already. Please start again.",
                    "",
                );
            }
            FirstUse::Full => {
                tracing::warn!("too many upstream sign-ins at once to remember another");
                return unavailable(state, upstream, &flow.return_to);
            }
        }
    }
    let profile = match answer::profile(upstream, flow, query).await {
        Ok(profile) => profile,
        Err(error) => return answer_refused(state, upstream, flow, &error, client),
    };
    if let Intent::Link { user_id } = &flow.intent {
        // The owner must still be signed in to the account the link was asked for.
        let still = browser_session::current(state, headers).await;
        match still {
            Ok(Some(session)) if session.user_id == *user_id => {}
            Ok(_) => {
                refused(
                    state,
                    id,
                    Some(user_id.clone()),
                    "link without the account's session",
                    client,
                );
                return page(
                    state,
                    StatusCode::FORBIDDEN,
                    "Link failed",
                    "Sign in to your account again, then link the provider from your account page.",
                    "",
                );
            }
            Err(error) => return unavailable_page(state, &error),
        }
    }
    let settings = &upstream.settings;
    let rules = AccountRules {
        provider: id,
        accounts: settings.accounts,
        link_by_verified_email: settings.link_by_verified_email,
    };
    let federation = Federation {
        store: state.store.as_ref(),
        hasher: state.credentials.hasher(),
    };
    let resolved = federation
        .resolve(rules, &profile, &flow.intent, state.clock.now())
        .await;
    let resolution = match resolved {
        Ok(resolution) => resolution,
        Err(FederationError::Store(error)) => return unavailable_page(state, &error),
        Err(error) => return account_refused(state, upstream, flow, &error, client),
    };
    audit_resolution(state, id, &resolution, client);
    if matches!(flow.intent, Intent::Link { .. }) {
        return redirect_with(paths::ACCOUNT, &[]);
    }
    signed_in(
        state,
        headers,
        upstream,
        resolution.user(),
        &flow.return_to,
        client,
    )
    .await
}

/// The redirect to provider `id`'s end-session endpoint after the local logout, when it is
/// configured for it and has one; `destination` is where the logout goes afterwards (empty:
/// the signed-out page).
pub(super) async fn upstream_logout(
    state: &AppState,
    id: &str,
    destination: &str,
) -> Option<Response> {
    let upstream = state.upstreams.get(id)?;
    if !upstream.settings.upstream_logout {
        return None;
    }
    let relying_party = match upstream.relying_party().await {
        Ok(relying_party) => relying_party,
        Err(error) => {
            // Signed out here; the provider's session is left as it is.
            tracing::warn!(provider = %id, %error, "upstream logout skipped");
            return None;
        }
    };
    let back = state
        .settings
        .endpoint(&crate::federation::signed_out_path(id));
    let url = relying_party.end_session_url(None, Some(&back))?;
    let carried = logout::state_for(&state.pending_key, destination, state.clock.now());
    Some(redirect_with(&url, &[("state", &carried)]))
}

#[derive(Debug, Deserialize)]
pub(super) struct SignedOutQuery {
    state: Option<String>,
}

/// `GET /federation/<id>/signed-out`: back from the provider's logout; on to where the local
/// logout was going.
pub(super) async fn signed_out(
    State(state): State<AppState>,
    Query(query): Query<SignedOutQuery>,
) -> Response {
    let destination = query
        .state
        .as_deref()
        .and_then(|carried| logout::destination(&state.pending_key, carried, state.clock.now()))
        .unwrap_or_default();
    if destination.is_empty() {
        super::logout::signed_out_page(&state)
    } else {
        redirect_with(&destination, &[])
    }
}

/// Continues a sign-in whose upstream part is done: a second factor when due, else the session.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    upstream: &Upstream,
    user: &portcullis_core::User,
    return_to: &str,
    client: IpAddr,
) -> Response {
    let provider = Some(upstream.settings.id.clone());
    let second = super::second_factor::after_first_factor(
        state,
        user,
        return_to,
        AuthMethods::federated(),
        provider.clone(),
    )
    .await;
    match second {
        Ok(Some(second_step)) => return second_step,
        Ok(None) => {}
        Err(error) => return unavailable_page(state, &error),
    }
    let started =
        browser_session::start(state, headers, user, AuthMethods::federated(), provider).await;
    let cookie = match started {
        Ok((_, cookie)) => cookie,
        Err(error) => return unavailable_page(state, &error),
    };
    state.audit.record(&AuditEvent::SignIn {
        username: user.username.to_string(),
        success: true,
        reason: None,
        remote_addr: Some(client.to_string()),
    });
    let mut response = redirect_with(&super::second_factor::continue_to(return_to), &[]);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

fn audit_resolution(state: &AppState, provider: &str, resolution: &Resolution, client: IpAddr) {
    let (action, reason) = match resolution {
        Resolution::Linked(_) => ("signed_in", None),
        Resolution::NewlyLinked(_, proof) => ("linked", Some(proof.as_str().to_owned())),
        Resolution::Created(_) => ("created", None),
    };
    state.audit.record(&AuditEvent::Federation {
        provider: provider.to_owned(),
        user_id: Some(resolution.user().id.clone()),
        action: action.to_owned(),
        reason,
        remote_addr: Some(client.to_string()),
    });
}

fn refused(
    state: &AppState,
    provider: &str,
    user_id: Option<String>,
    reason: &str,
    client: IpAddr,
) {
    state.audit.record(&AuditEvent::Federation {
        provider: provider.to_owned(),
        user_id,
        action: "refused".to_owned(),
        reason: Some(reason.to_owned()),
        remote_addr: Some(client.to_string()),
    });
}

/// The page for a provider's answer that signs nobody in.
fn answer_refused(
    state: &AppState,
    upstream: &Upstream,
    flow: &Flow,
    error: &AnswerError,
    client: IpAddr,
) -> Response {
    let name = &upstream.settings.display_name;
    refused(
        state,
        &upstream.settings.id,
        None,
        &error.to_string(),
        client,
    );
    let (status, message) = match error {
        AnswerError::Forged(_) => (
            StatusCode::BAD_REQUEST,
            "This answer does not belong to your sign-in. Please start again.".to_owned(),
        ),
        // Shown, not swallowed: the user may have said no, or the provider refused them.
        AnswerError::Refused { code, description } => (
            StatusCode::FORBIDDEN,
            format!(
                "{name} did not sign you in: {code}{}.",
                description
                    .as_deref()
                    .map(|text| format!(" ({text})"))
                    .unwrap_or_default()
            ),
        ),
        AnswerError::Unavailable(why) => {
            tracing::warn!(provider = %upstream.settings.id, %why, "upstream provider unavailable");
            return unavailable(state, upstream, &flow.return_to);
        }
        AnswerError::Invalid(why) => {
            tracing::warn!(provider = %upstream.settings.id, %why, "upstream answer refused");
            (
                StatusCode::BAD_GATEWAY,
                format!("{name} sent an answer this server cannot accept."),
            )
        }
    };
    page(state, status, "Sign-in failed", &message, &flow.return_to)
}

/// The page for an upstream identity that signs in to no account.
fn account_refused(
    state: &AppState,
    upstream: &Upstream,
    flow: &Flow,
    error: &FederationError,
    client: IpAddr,
) -> Response {
    let user_id = match &flow.intent {
        Intent::Link { user_id } => Some(user_id.clone()),
        Intent::SignIn => None,
    };
    refused(
        state,
        &upstream.settings.id,
        user_id,
        &error.to_string(),
        client,
    );
    let name = &upstream.settings.display_name;
    let message = match error {
        FederationError::NoAccount => format!(
            "No account here is linked to your {name} identity. Ask an administrator, or sign in \
             another way and link {name} on your account page."
        ),
        FederationError::AddressBelongsToAnAccount => format!(
            "An account with your {name} email address exists. Sign in to it another way, then \
             link {name} on your account page."
        ),
        FederationError::LinkedElsewhere => {
            format!("Your {name} identity is linked to another account.")
        }
        FederationError::ProviderLinkedAlready => {
            format!("Your account is linked to another {name} identity. Remove that link first.")
        }
        FederationError::Disabled => "This account is disabled.".to_owned(),
        FederationError::NoUsername | FederationError::Store(_) => {
            "No account could be made. Please ask an administrator.".to_owned()
        }
    };
    page(
        state,
        StatusCode::FORBIDDEN,
        "Sign-in failed",
        &message,
        &flow.return_to,
    )
}

/// The page for a provider that cannot be used now: the local sign-in is offered instead.
fn unavailable(state: &AppState, upstream: &Upstream, return_to: &str) -> Response {
    let message = format!(
        "{} cannot be reached right now. Please try again later, or sign in another way.",
        upstream.settings.display_name
    );
    page(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in provider unavailable",
        &message,
        return_to,
    )
}

/// The page for a provider id that is not configured.
fn unknown_provider(state: &AppState, return_to: &str) -> Response {
    page(
        state,
        StatusCode::NOT_FOUND,
        "Unknown sign-in provider",
        "There is no such sign-in provider.",
        return_to,
    )
}

/// A message page with a link back to the sign-in page (and the request that sent the user).
fn page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    return_to: &str,
) -> Response {
    let back = returning(paths::SIGN_IN, return_to);
    Page {
        status,
        title: title.to_owned(),
        body: format!(
            "{}<p><a href=\"{}\">Back to sign-in</a></p>",
            pages::message(message),
            pages::escape(&back)
        ),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}

/// The start of provider `id`'s flow, for the sign-in page's buttons.
pub(super) fn start_url(id: &str, return_to: &str) -> String {
    returning(&start_path(id), return_to)
}

/// `path`, with `return_to` when there is one.
fn returning(path: &str, return_to: &str) -> String {
    if return_to.is_empty() {
        path.to_owned()
    } else {
        super::with_query(path, &[("return_to", return_to)])
    }
}
