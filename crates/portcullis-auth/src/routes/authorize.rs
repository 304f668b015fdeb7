//! `GET/POST /authorize` (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2): validate the request,
//! make sure the user is signed in (recently enough), obtain consent, and redirect back with a
//! single-use code.

use super::{error_page, paths, redirect_with, unavailable_page};
use crate::form::OAuthParams;
use crate::pages::{self, Page};
use crate::settings::AUTHORIZATION_CODE_LIFETIME_SECS;
use crate::state::AppState;
use crate::{browser_session, csrf};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::authorize::{
    AuthorizationRequest, AuthorizeError, Prompt, validate_authorization,
};
use portcullis_core::{
    AuditEvent, AuthorizationCodeRecord, Client, ScopeSet, Session, User, generate_secret,
};
use portcullis_jose::sha256;

/// Parameters that belong to the consent form, not to the authorization request.
const FORM_ONLY: [&str; 2] = ["decision", "csrf_token"];

pub(super) async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match OAuthParams::from_query(query.as_deref().unwrap_or_default()) {
        Ok(params) => authorize(&state, &headers, params).await,
        Err(problem) => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            &format!("The request is malformed: {problem}."),
        ),
    }
}

pub(super) async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match OAuthParams::from_form_body(&headers, &body) {
        Ok(params) => authorize(&state, &headers, params).await,
        Err(_) => error_page(&state, StatusCode::BAD_REQUEST, "The request is malformed."),
    }
}

/// An error sent back to the client (RFC 6749 §4.1.2.1), with `iss` (RFC 9207).
fn redirect_error(
    state: &AppState,
    request: &AuthorizationRequest,
    code: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", code), ("error_description", description)];
    if let Some(client_state) = &request.state {
        params.push(("state", client_state));
    }
    params.push(("iss", state.settings.issuer()));
    redirect_with(&request.redirect_uri, &params)
}

async fn authorize(state: &AppState, headers: &HeaderMap, params: OAuthParams) -> Response {
    let raw = params.authorization_params();
    let client = match &raw.client_id {
        Some(id) => match state.store.find_client(id).await {
            Ok(client) => client,
            Err(error) => return unavailable_page(state, &error),
        },
        None => None,
    };
    let request = match validate_authorization(client.as_ref(), &raw, &state.settings.token_policy)
    {
        Ok(request) => request,
        Err(AuthorizeError::Untrusted(message)) => {
            return error_page(state, StatusCode::BAD_REQUEST, &message);
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state: client_state,
            code,
            description,
        }) => {
            let mut params = vec![("error", code), ("error_description", description.as_str())];
            if let Some(client_state) = &client_state {
                params.push(("state", client_state));
            }
            params.push(("iss", state.settings.issuer()));
            return redirect_with(&redirect_uri, &params);
        }
    };
    let Some(client) = client else {
        return error_page(
            state,
            StatusCode::BAD_REQUEST,
            "The application is not registered here.",
        );
    };
    let decision = params.get("decision");
    if decision.is_some()
        && !csrf::is_valid(
            &state.csrf_key,
            headers,
            params.get("csrf_token"),
            state.settings.secure_cookies(),
        )
    {
        return error_page(
            state,
            StatusCode::FORBIDDEN,
            "The form expired or came from another site. Go back and try again.",
        );
    }
    let session = match browser_session::current(state, headers).await {
        Ok(session) => session,
        Err(error) => return unavailable_page(state, &error),
    };
    let now = state.clock.now();
    let user = match &session {
        Some(session) => match state.store.find_user_by_id(&session.user_id).await {
            Ok(user) => user.filter(|user| user.disabled_at.is_none()),
            Err(error) => return unavailable_page(state, &error),
        },
        None => None,
    };
    let too_old = |session: &Session| {
        request
            .max_age
            .is_some_and(|max_age| now - session.auth_time > max_age)
    };
    let signed_in = match (&session, &user) {
        (Some(session), Some(user))
            if !too_old(session)
                && (request.prompt != Some(Prompt::Login) || decision.is_some()) =>
        {
            Some((session, user))
        }
        _ => None,
    };
    let Some((session, user)) = signed_in else {
        if request.prompt == Some(Prompt::None) {
            return redirect_error(
                state,
                &request,
                "login_required",
                "the user is not signed in",
            );
        }
        // Come back here after sign-in, without `prompt=login`, which that sign-in satisfies.
        let mut return_params = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params.pairs_except(&FORM_ONLY) {
            if !(name == "prompt" && value == "login") {
                return_params.append_pair(&name, &value);
            }
        }
        let return_to = format!("{}?{}", paths::AUTHORIZE, return_params.finish());
        let hint = request.login_hint.clone().unwrap_or_default();
        return redirect_with(
            paths::SIGN_IN,
            &[("return_to", &return_to), ("login_hint", &hint)],
        );
    };
    match decision {
        Some("allow") => {
            if let Err(error) = state
                .store
                .save_consent(&user.id, &client.id, &request.scope.to_string(), now)
                .await
            {
                return unavailable_page(state, &error);
            }
            state.audit.record(&AuditEvent::ConsentGranted {
                user_id: user.id.clone(),
                client_id: client.id.clone(),
                scope: request.scope.to_string(),
            });
        }
        Some(_) => {
            return redirect_error(
                state,
                &request,
                "access_denied",
                "the user denied the request",
            );
        }
        None => {
            let consented = match has_consent(state, &client, user, &request).await {
                Ok(consented) => consented,
                Err(error) => return unavailable_page(state, &error),
            };
            if !consented {
                if request.prompt == Some(Prompt::None) {
                    return redirect_error(
                        state,
                        &request,
                        "consent_required",
                        "the user has not consented",
                    );
                }
                return consent_page(state, headers, &client, &request, &params);
            }
        }
    }
    issue_code(state, &client, user, session, &request).await
}

/// Consent is skipped for first-party clients and when remembered consent covers the scope.
async fn has_consent(
    state: &AppState,
    client: &Client,
    user: &User,
    request: &AuthorizationRequest,
) -> Result<bool, portcullis_store::StoreError> {
    if client.first_party {
        return Ok(true);
    }
    if request.prompt == Some(Prompt::Consent) {
        return Ok(false);
    }
    let stored = state.store.find_consent(&user.id, &client.id).await?;
    Ok(stored
        .map(|scope| ScopeSet::parse(&scope).unwrap_or_default())
        .is_some_and(|granted| request.scope.is_subset(&granted)))
}

fn consent_page(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    request: &AuthorizationRequest,
    params: &OAuthParams,
) -> Response {
    let (token, cookie) =
        csrf::token_for(&state.csrf_key, headers, state.settings.secure_cookies());
    let scopes: Vec<&str> = request.scope.iter().collect();
    Page {
        status: StatusCode::OK,
        title: "Allow access?".to_owned(),
        body: pages::consent_form(
            &client.id,
            &scopes,
            &token,
            &params.pairs_except(&FORM_ONLY),
        ),
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}

async fn issue_code(
    state: &AppState,
    client: &Client,
    user: &User,
    session: &Session,
    request: &AuthorizationRequest,
) -> Response {
    let Ok(code) = generate_secret(32) else {
        return error_page(state, StatusCode::INTERNAL_SERVER_ERROR, "Internal error.");
    };
    let now = state.clock.now();
    let record = AuthorizationCodeRecord {
        code_hash: sha256(code.as_bytes()).to_vec(),
        client_id: client.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        scope: request.scope.to_string(),
        audiences: request.audiences.clone(),
        user_id: user.id.clone(),
        sid: session.sid.clone(),
        auth_time: session.auth_time,
        // RFC 6749 §4.1.2: a short lifetime; Portcullis allows one minute.
        expires_at: now + AUTHORIZATION_CODE_LIFETIME_SECS,
    };
    if let Err(error) = state.codes.insert_code(&record).await {
        return unavailable_page(state, &error);
    }
    state.audit.record(&AuditEvent::CodeIssued {
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        sid: session.sid.clone(),
    });
    let mut params = vec![("code", code.as_str())];
    if let Some(client_state) = &request.state {
        params.push(("state", client_state));
    }
    params.push(("iss", state.settings.issuer()));
    redirect_with(&request.redirect_uri, &params)
}
