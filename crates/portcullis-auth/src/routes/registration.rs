//! Self-service registration: `GET /register` shows the form (in invitation mode only with a
//! live invitation), `POST /register` stores the registration and sends the link confirming its
//! address (the account is created when the link is followed with the password). The answer
//! after a valid form is the same whether or not the address already has an account (its owner
//! gets a message instead). Attempts are throttled per address and per
//! network with the sign-in throttle's design. Off, with a page saying so, unless registration
//! is enabled and `[email]` is configured.

use super::email_verification::registration;
use super::password_reset::{FORM_EXPIRED, page};
use super::sign_in::safe_return_to;
use super::{error_page, unavailable_page};
use crate::client_ip::client_ip;
use crate::csrf;
use crate::pages::{self, Page, RegistrationFields};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::user::email_key;
use portcullis_core::{RegistrationMode, RegistrationRefusal};
use portcullis_service::{RegistrationError, RegistrationForm};
use serde::Deserialize;
use std::net::SocketAddr;

const TITLE: &str = "Create an account";
const INVITATION_ONLY: &str = "Registration here is by invitation only, and this invitation has expired or was already \
     used. Ask for a new one.";

/// The page when registration is off (closed, or no email to verify addresses with).
fn closed(state: &AppState) -> Option<Response> {
    // Registration makes a password account: not where only upstream providers sign in.
    let enabled = state.settings.registration.is_enabled()
        && state.email.is_some()
        && state.settings.federation.local_sign_in;
    (!enabled).then(|| {
        error_page(
            state,
            StatusCode::NOT_FOUND,
            "Registration is not open here: ask an administrator for an account.",
        )
    })
}

fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    fields: &RegistrationFields<'_>,
    error: Option<&str>,
) -> Response {
    let min = state.credentials.hasher().min_length();
    page(state, headers, status, TITLE, |csrf| {
        pages::registration_form(csrf, fields, min, error)
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct RegisterQuery {
    return_to: Option<String>,
    invitation: Option<String>,
}

pub(super) async fn register_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RegisterQuery>,
) -> Response {
    if let Some(off) = closed(&state) {
        return off;
    }
    let invitation_token = query.invitation.unwrap_or_default();
    let mut email = String::new();
    if state.settings.registration.mode == RegistrationMode::Invite {
        match registration(&state).invitation(&invitation_token).await {
            Ok(Some(invitation)) => email = invitation.email_key.unwrap_or_default(),
            Ok(None) => return error_page(&state, StatusCode::FORBIDDEN, INVITATION_ONLY),
            Err(error) => return unavailable_page(&state, &error),
        }
    }
    let return_to = safe_return_to(query.return_to.as_deref());
    let fields = RegistrationFields {
        return_to: &return_to,
        invitation: &invitation_token,
        username: "",
        email: &email,
    };
    form_page(&state, &headers, StatusCode::OK, &fields, None)
}

pub(super) async fn register_submit(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(off) = closed(&state) {
        return off;
    }
    let (params, csrf_ok) = csrf::posted_form(&state, &headers, &body);
    let field = |name| params.get(name).unwrap_or_default().to_owned();
    let (username, email, invitation) = (field("username"), field("email"), field("invitation"));
    let return_to = safe_return_to(params.get("return_to"));
    let fields = RegistrationFields {
        return_to: &return_to,
        invitation: &invitation,
        username: &username,
        email: &email,
    };
    if !csrf_ok {
        return form_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            &fields,
            Some(FORM_EXPIRED),
        );
    }
    // The sign-in throttle's design, on counters of their own: per address and per network.
    let client = client_ip(&state, &headers, remote_addr);
    let keys = AttemptKeys::for_purpose("register", &email_key(&email).unwrap_or_default(), client);
    match state
        .sign_in_throttle
        .reserve(&keys, state.clock.now())
        .await
    {
        Ok(ThrottleDecision::Allow(delay)) => tokio::time::sleep(delay).await,
        Ok(ThrottleDecision::Locked(_)) => {
            return form_page(
                &state,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                &fields,
                Some("Too many attempts. Please wait a while and try again."),
            );
        }
        Err(error) => return unavailable_page(&state, &error),
    }
    let form = RegistrationForm {
        username: username.clone(),
        email: email.clone(),
        password: field("password"),
        invitation: (!invitation.is_empty()).then(|| invitation.clone()),
        return_to: (!return_to.is_empty()).then(|| return_to.clone()),
    };
    match registration(&state)
        .register(form, Some(client.to_string()))
        .await
    {
        Ok(()) => Page {
            status: StatusCode::OK,
            title: "Check your email".to_owned(),
            body: pages::message(&format!(
                "We sent a message to {}. Follow the link in it within an hour and enter your \
                 password to confirm the address; your account is created then.",
                email.trim()
            )),
            cookies: Vec::new(),
        }
        .render(&state.settings.sign_in.product_name),
        Err(RegistrationError::Refused(RegistrationRefusal::InvitationInvalid)) => {
            error_page(&state, StatusCode::FORBIDDEN, INVITATION_ONLY)
        }
        Err(RegistrationError::Store(error)) => unavailable_page(&state, &error),
        Err(error) => {
            let message = error.to_string();
            form_page(
                &state,
                &headers,
                StatusCode::BAD_REQUEST,
                &fields,
                Some(&message),
            )
        }
    }
}
