//! The web-app example: a server-rendered application that signs its users in at an OpenID
//! provider with the SDK's relying party (Authorization Code + PKCE, `state`, `nonce`, RFC 9207
//! `iss`, id token validated) and keeps everything server-side: the browser holds only a random
//! `HttpOnly`, `SameSite=Lax` session cookie (`Secure` when served over https), never a token.
//!
//! * `GET /` — the protected page: who is signed in, or a link to sign in;
//! * `GET /login` — starts a sign-in and sends the browser to the provider;
//! * `GET /callback` — the redirect back: checked, redeemed, then back to `/`;
//! * `POST /logout` — forgets the session.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cookie::{Cookie, SameSite};
use portcullis_sdk::client::{PendingAuthorization, RelyingParty};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The session cookie's name.
const SESSION_COOKIE: &str = "web_app_session";
/// Most sessions kept at once (older sign-ins in progress are dropped first).
const MAX_SESSIONS: usize = 10_000;

/// A browser's session, kept server-side.
enum Session {
    /// Sent to the provider, waiting for the callback.
    Pending(PendingAuthorization),
    /// Signed in as this user.
    SignedIn(String),
}

/// The application: its relying party and its sessions.
pub struct WebApp {
    relying_party: RelyingParty,
    sessions: Mutex<HashMap<String, Session>>,
    /// Served over https: the cookie is `Secure`.
    secure: bool,
}

impl WebApp {
    /// The application signing users in through `relying_party`.
    pub fn new(relying_party: RelyingParty) -> Arc<Self> {
        Arc::new(WebApp {
            secure: relying_party.redirect_uri().starts_with("https://"),
            relying_party,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The application's routes.
pub fn router(app: Arc<WebApp>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .with_state(app)
}

fn page(status: StatusCode, body: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Web app</title>\
             <body><h1>Web app</h1>{body}</body></html>"
        )),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The session id the browser presents, if any.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

async fn home(State(app): State<Arc<WebApp>>, headers: HeaderMap) -> Response {
    let signed_in = session_id(&headers).and_then(|id| match app.sessions().get(&id) {
        Some(Session::SignedIn(name)) => Some(name.clone()),
        _ => None,
    });
    match signed_in {
        Some(name) => page(
            StatusCode::OK,
            &format!(
                "<p id=\"user\">Signed in as <strong>{}</strong>.</p>\
                 <form method=\"post\" action=\"/logout\"><button>Sign out</button></form>",
                escape(&name)
            ),
        ),
        None => page(
            StatusCode::OK,
            "<p>Not signed in.</p><p><a id=\"login\" href=\"/login\">Sign in</a></p>",
        ),
    }
}

async fn login(State(app): State<Arc<WebApp>>) -> Response {
    let started = app.relying_party.start("openid profile", &[]);
    let mut id = [0u8; 32];
    let (Ok((pending, url)), Ok(())) = (started, portcullis_jose::random_bytes(&mut id)) else {
        return page(StatusCode::SERVICE_UNAVAILABLE, "<p>Try again later.</p>");
    };
    let id = portcullis_jose::base64url::encode(id);
    {
        let mut sessions = app.sessions();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, session| matches!(session, Session::SignedIn(_)));
        }
        // Still full of signed-in sessions: no more, rather than a map without bound.
        if sessions.len() >= MAX_SESSIONS {
            return page(StatusCode::SERVICE_UNAVAILABLE, "<p>Try again later.</p>");
        }
        sessions.insert(id.clone(), Session::Pending(pending));
    }
    // Lax: the cookie comes back with the provider's top-level redirect to /callback.
    let cookie = Cookie::build((SESSION_COOKIE, id))
        .http_only(true)
        .secure(app.secure)
        .same_site(SameSite::Lax)
        .path("/")
        .build();
    let mut response = Redirect::to(&url).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn callback(
    State(app): State<Arc<WebApp>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(id) = session_id(&headers) else {
        return page(StatusCode::BAD_REQUEST, "<p>No sign-in in progress.</p>");
    };
    // The pending sign-in is used once, whatever the outcome; a signed-in session stays.
    let pending = {
        let mut sessions = app.sessions();
        if !matches!(sessions.get(&id), Some(Session::Pending(_))) {
            return page(StatusCode::BAD_REQUEST, "<p>No sign-in in progress.</p>");
        }
        match sessions.remove(&id) {
            Some(Session::Pending(pending)) => pending,
            _ => return page(StatusCode::BAD_REQUEST, "<p>No sign-in in progress.</p>"),
        }
    };
    let outcome = match app
        .relying_party
        .callback(&pending, query.as_deref().unwrap_or_default())
    {
        Ok(code) => app.relying_party.exchange(&pending, &code).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok((_, Some(id_token))) => {
            let name = id_token
                .claims
                .get("preferred_username")
                .and_then(|name| name.as_str())
                .unwrap_or(&id_token.subject)
                .to_owned();
            app.sessions().insert(id, Session::SignedIn(name));
            Redirect::to("/").into_response()
        }
        Ok((_, None)) => page(
            StatusCode::BAD_GATEWAY,
            "<p>The provider sent no id token.</p>",
        ),
        Err(error) => page(
            StatusCode::BAD_REQUEST,
            &format!(
                "<p id=\"error\">Sign-in failed: {}</p>",
                escape(&error.to_string())
            ),
        ),
    }
}

async fn logout(State(app): State<Arc<WebApp>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_id(&headers) {
        app.sessions().remove(&id);
    }
    Redirect::to("/").into_response()
}
