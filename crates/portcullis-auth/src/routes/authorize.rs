//! `GET/POST /authorize` (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2): reads the request, the
//! session cookie and the consent form (CSRF-checked), asks the service layer's [`Authorizer`]
//! what to do, and renders its outcome: an error page, a redirect, the sign-in or consent page.

use super::{error_page, paths, redirect_with, unavailable_page};
use crate::form::OAuthParams;
use crate::pages::{self, Page};
use crate::request_object::{self, RequestObjectRefusal};
use crate::state::AppState;
use crate::{browser_session, csrf};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use portcullis_core::Client;
use portcullis_core::authorize::{AuthorizationRequest, redirect_uri_matches};
use portcullis_core::pushed_request::REQUEST_URI_PREFIX;
use portcullis_service::authorization::AuthorizationError;
use portcullis_service::{AuthorizationAttempt, AuthorizationOutcome, Authorizer};
use std::net::SocketAddr;

/// Parameters that belong to the consent form, not to the authorization request.
const FORM_ONLY: [&str; 2] = ["decision", "csrf_token"];

pub(super) async fn authorize_get(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match OAuthParams::from_query(query.as_deref().unwrap_or_default()) {
        Ok(params) => authorize(&state, &headers, remote_addr, params).await,
        Err(problem) => error_page(
            &state,
            StatusCode::BAD_REQUEST,
            &format!("The request is malformed: {problem}."),
        ),
    }
}

pub(super) async fn authorize_post(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match OAuthParams::from_form_body(&headers, &body) {
        Ok(params) => authorize(&state, &headers, remote_addr, params).await,
        Err(_) => error_page(&state, StatusCode::BAD_REQUEST, "The request is malformed."),
    }
}

/// A redirect to the client's `redirect_uri` with `params`, `state` and `iss` (RFC 9207).
fn redirect_back<'a>(
    state: &'a AppState,
    redirect_uri: &str,
    client_state: Option<&'a str>,
    mut params: Vec<(&'a str, &'a str)>,
) -> Response {
    if let Some(client_state) = client_state {
        params.push(("state", client_state));
    }
    params.push(("iss", state.settings.issuer()));
    redirect_with(redirect_uri, &params)
}

async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    params: OAuthParams,
) -> Response {
    let client_ip = crate::client_ip::client_ip(state, headers, remote_addr);
    let answer = params.get("decision");
    if answer.is_some()
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
    // RFC 9126 §4: with a `request_uri` of this server's, the request is the one its client
    // pushed; the browser's other parameters are not read. (Any other `request_uri` is a
    // request object by reference, opened below from the client's registered `request_uris`.)
    let pushed = match params.get("request_uri") {
        Some(request_uri) if request_uri.starts_with(REQUEST_URI_PREFIX) => {
            let client_id = params.get("client_id").unwrap_or_default();
            match state.pushed_requests().open(client_id, request_uri).await {
                Ok(Some(opened)) => Some((request_uri.to_owned(), opened)),
                Ok(None) => return spent_request_page(state),
                Err(error) => return unavailable_page(state, &error),
            }
        }
        _ => None,
    };
    let mut answer = answer;
    let raw = match &pushed {
        Some((_, opened)) => {
            let mut raw = OAuthParams::from_pairs(opened.pairs.clone()).authorization_params();
            raw.pushed = true;
            if raw.prompt.as_deref() == Some("login") {
                // The pushed `prompt=login` is satisfied only by a sign-in since the request
                // was first opened (to the second): nothing the browser sends can waive it.
                if session
                    .as_ref()
                    .is_some_and(|session| session.auth_time >= opened.opened_at)
                {
                    raw.prompt = None;
                } else {
                    answer = None;
                }
            }
            raw
        }
        // RFC 9101: a request object's parameters are the request. Once verified, they are
        // kept as a pushed request would be and the browser continues with its reference: the
        // object is checked once, and sign-in and consent then work as for any pushed request
        // (its `prompt=login` included).
        None => match request_object::open(state, &params, client_ip).await {
            Ok(Some((client, opened))) => {
                match keep_signed_request(state, &client, &opened, &client_ip.to_string()).await {
                    Some(response) => return response,
                    None => opened.authorization_params(),
                }
            }
            Ok(None) => params.authorization_params(),
            Err(refusal) => return request_object_refused(state, &params, refusal),
        },
    };
    let clients = state.clients(client_ip);
    let authorizer = Authorizer {
        store: state.store.as_ref(),
        clients: &clients,
        codes: state.codes.as_ref(),
        clock: state.clock.as_ref(),
        audit: &state.audit,
        policy: &state.settings.token_policy,
        require_verified_email: state.settings.registration.require_verified_email,
        mfa: &state.settings.sign_in.mfa,
        require_pushed: state.settings.require_pushed_authorization_requests,
    };
    let attempt = AuthorizationAttempt {
        params: &raw,
        answer,
        session: session.as_ref(),
    };
    let outcome = authorizer.authorize(attempt).await;
    // RFC 9126 §4: a pushed request is answered once: of two answers racing, only the one
    // that ends it is sent.
    if let (
        Some((request_uri, _)),
        Ok(AuthorizationOutcome::Code { .. } | AuthorizationOutcome::RedirectError { .. }),
    ) = (&pushed, &outcome)
    {
        match state.pushed_requests().finish(request_uri).await {
            Ok(true) => {}
            Ok(false) => return spent_request_page(state),
            Err(error) => return unavailable_page(state, &error),
        }
    }
    match outcome {
        Ok(AuthorizationOutcome::ErrorPage(message)) => {
            error_page(state, StatusCode::BAD_REQUEST, &message)
        }
        Ok(AuthorizationOutcome::RedirectError {
            redirect_uri,
            state: client_state,
            code,
            description,
        }) => redirect_back(
            state,
            &redirect_uri,
            client_state.as_deref(),
            vec![("error", code), ("error_description", &description)],
        ),
        Ok(AuthorizationOutcome::SignIn { login_hint }) => {
            sign_in_redirect(&params, login_hint.as_deref())
        }
        Ok(AuthorizationOutcome::AskConsent(prompt)) => {
            consent_page(state, headers, &prompt.client, &prompt.request, &params)
        }
        Ok(AuthorizationOutcome::Code {
            redirect_uri,
            state: client_state,
            code,
        }) => redirect_back(
            state,
            &redirect_uri,
            client_state.as_deref(),
            vec![("code", &code)],
        ),
        Err(AuthorizationError::Store(error)) => unavailable_page(state, &error),
        Err(AuthorizationError::Randomness) => {
            error_page(state, StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
        }
    }
}

/// Keeps the verified parameters of a signed request as a pushed request of `client` and sends
/// the browser on with its `request_uri`; `None` when they cannot be kept (the request is then
/// answered from `opened` directly: its refusal, at the right place). A server or client that
/// requires pushed requests refuses a signed one sent through the browser (RFC 9126 §5-6).
async fn keep_signed_request(
    state: &AppState,
    client: &Client,
    opened: &OAuthParams,
    client_ip: &str,
) -> Option<Response> {
    if state.settings.require_pushed_authorization_requests
        || client.require_pushed_authorization_requests
    {
        // Left to the Authorizer, which refuses a request that was not pushed.
        return None;
    }
    let request = opened.authorization_params();
    let pairs = opened.pairs_except(&[]);
    match state
        .pushed_requests()
        .push(
            client,
            &request,
            &pairs,
            client_ip,
            portcullis_service::Pusher::Browser,
        )
        .await
    {
        Ok(pushed) => Some(redirect_with(
            paths::AUTHORIZE,
            &[
                ("client_id", &client.id),
                ("request_uri", &pushed.request_uri),
            ],
        )),
        Err(portcullis_service::PushError::Store(error)) => Some(unavailable_page(state, &error)),
        Err(_) => None,
    }
}

/// A refused request object: `invalid_request_object` at the plain redirect URI when the client
/// registered it (RFC 9101 §6.3, RFC 6749 §4.1.2.1), else on an error page.
fn request_object_refused(
    state: &AppState,
    params: &OAuthParams,
    refusal: RequestObjectRefusal,
) -> Response {
    let (code, reason, client) = match refusal {
        RequestObjectRefusal::Invalid {
            code,
            reason,
            client,
        } => (code, reason, client),
        RequestObjectRefusal::Store(error) => return unavailable_page(state, &error),
    };
    let registered_redirect = params.get("redirect_uri").filter(|presented| {
        client.as_ref().is_some_and(|client| {
            client
                .redirect_uris
                .iter()
                .any(|registered| redirect_uri_matches(registered, presented))
        })
    });
    match registered_redirect {
        Some(redirect_uri) => redirect_back(
            state,
            redirect_uri,
            params.get("state"),
            vec![("error", code), ("error_description", &reason)],
        ),
        None => error_page(
            state,
            StatusCode::BAD_REQUEST,
            &format!("The application's request object is not valid: {reason}."),
        ),
    }
}

/// A pushed request that is unknown, another client's, expired or answered already.
fn spent_request_page(state: &AppState) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-in request expired or was used already. Go back to the application and \
         start again.",
    )
}

/// To the sign-in page, coming back here afterwards without `prompt=login`, which that sign-in
/// satisfies (a pushed request's `prompt=login` is not in the address: the sign-in's time
/// satisfies it).
fn sign_in_redirect(params: &OAuthParams, login_hint: Option<&str>) -> Response {
    let mut return_params = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params.pairs_except(&FORM_ONLY) {
        if !(name == "prompt" && value == "login") {
            return_params.append_pair(&name, &value);
        }
    }
    let return_to = format!("{}?{}", paths::AUTHORIZE, return_params.finish());
    redirect_with(
        paths::SIGN_IN,
        &[
            ("return_to", &return_to),
            ("login_hint", login_hint.unwrap_or_default()),
        ],
    )
}

/// What the consent page says of a client that described itself: where the user is sent back
/// to, and a warning when that is a program on their own computer, which anyone can run
/// (draft-ietf-oauth-client-id-metadata-document §8.5; the MCP authorization specification's
/// localhost redirect risks).
fn consent_warning(client: &Client, redirect_uri: &str) -> Option<String> {
    if !client.is_self_described() {
        return None;
    }
    let private_use_scheme = redirect_uri
        .split_once(':')
        .filter(|(scheme, rest)| !rest.starts_with("//") && scheme.contains('.'))
        .map(|(scheme, _)| scheme);
    let destination = portcullis_core::client_id_document::host_of(redirect_uri);
    let local = ["127.0.0.1", "[::1]", "localhost"]
        .iter()
        .any(|host| destination == *host || destination.starts_with(&format!("{host}:")));
    // RFC 8252 §8.6: loopback ports and private-use schemes are anyone's to claim.
    Some(match private_use_scheme {
        Some(scheme) => format!(
            "It returns you to an app on this device ({scheme}:). Allow it only if you started \
             that app yourself just now."
        ),
        None if local => format!(
            "It returns you to a program on this computer ({destination}). Allow it only if \
             you started that program yourself just now."
        ),
        None => format!("It returns you to {destination}."),
    })
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
            &client.label(),
            consent_warning(client, &request.redirect_uri).as_deref(),
            &scopes,
            &token,
            &params.pairs_except(&FORM_ONLY),
        ),
        cookies: cookie.into_iter().collect(),
    }
    .render(&state.settings.sign_in.product_name)
}
