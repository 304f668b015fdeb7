//! The admin console: server-rendered pages on the admin listener (`/console`), for users,
//! clients, sessions, keys and the audit log. It signs in through Portcullis's own sign-in as the
//! built-in first-party client `portcullis-console` (Authorization Code with PKCE, redeemed in
//! process); only users with the role `admin` (read and write) or `auditor` (read only) get in.
//! Every change goes through the service layer's `Administration`, audited with the user as the
//! actor. Forms carry a per-session CSRF token; no scripts; the same strict headers as the
//! sign-in pages.

mod clients;
mod form;
mod layout;
mod others;
mod paging;
pub mod sessions;
mod signin;
mod users;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_service::Actor;
use portcullis_types::GrantType;
use std::sync::OnceLock;

/// The console's client id: built in (administrators and `apply` cannot change it).
pub const CLIENT_ID: &str = "portcullis-console";

/// The console's state: its sessions, its client secret and where the admin listener is reached.
pub struct Console {
    /// Sign-ins in progress and signed-in users.
    pub sessions: sessions::ConsoleSessions,
    /// The secret of its (confidential) client, derived from the key-encryption key so every
    /// server of a cluster has the same: a code sent to any other redirect URI is useless.
    secret: String,
    base: OnceLock<String>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Console")
    }
}

impl Console {
    /// The console with its client's secret.
    pub fn new(secret: String) -> Self {
        Console {
            sessions: sessions::ConsoleSessions::default(),
            secret,
            base: OnceLock::new(),
        }
    }

    /// `scheme://host:port` of the admin listener; `None` before it listens.
    pub fn base(&self) -> Option<&str> {
        self.base.get().map(String::as_str)
    }

    fn redirect_uri(&self) -> Option<String> {
        self.base().map(|base| format!("{base}/console/callback"))
    }

    fn secure(&self) -> bool {
        self.base().is_some_and(|base| base.starts_with("https://"))
    }
}

/// Registers (or updates) the console's confidential client for the admin listener at `base`, so
/// sign-in can redirect back to it (other servers' redirect URIs are kept).
///
/// # Errors
/// Store failures.
pub async fn register(
    state: &AppState,
    base: String,
) -> Result<(), portcullis_service::AdminError> {
    let _ = state.console.base.set(base);
    let Some(redirect_uri) = state.console.redirect_uri() else {
        return Ok(());
    };
    let registration = ClientRegistration {
        id: CLIENT_ID.to_owned(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec![redirect_uri],
        scopes: vec![
            "openid".into(),
            "portcullis:admin".into(),
            "portcullis:audit".into(),
        ],
        audiences: vec![state.settings.issuer().to_owned()],
        access_token_lifetime_secs: None,
        first_party: true,
        post_logout_redirect_uris: vec![],
        id_token_algorithm: None,
        keys: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        require_mfa: false,
        require_pushed_authorization_requests: false,
        client_name: None,
        request_uris: Vec::new(),
        request_object_signing_alg: None,
    };
    let actor = Actor::system("console");
    crate::admin_api::administration(state, &actor)
        .ensure_built_in_client(registration, Some(state.console.secret.clone()))
        .await
}

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(signin::home))
        .route("/console/login", get(signin::login))
        .route("/console/callback", get(signin::callback))
        .route("/console/logout", post(signin::logout))
        .route("/console/users", get(users::list).post(users::create))
        .route("/console/users/{username}", get(users::show))
        .route("/console/users/{username}/{action}", post(users::act))
        .route("/console/clients", get(clients::list).post(clients::create))
        .route("/console/clients/{id}", get(clients::show))
        .route("/console/clients/{id}/{action}", post(clients::act))
        .route("/console/sessions", get(others::sessions))
        .route(
            "/console/sessions/{sid}/revoke",
            post(others::revoke_session),
        )
        .route("/console/keys", get(others::keys).post(others::rotate_keys))
        .route("/console/audit", get(others::audit))
}
