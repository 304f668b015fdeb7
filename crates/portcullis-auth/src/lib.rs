//! The Portcullis auth server: the HTTP edge of the OAuth 2.0 authorization server.
//!
//! Handlers are thin: they extract the request, call one function that combines the store and the
//! domain rules of `portcullis-core`, and map the result to the protocol's own response format.
//! [`router`] builds the application; [`serve`] runs it with graceful shutdown and the background
//! key maintenance task.

pub mod admin_api;
pub mod bearer;
pub mod browser_session;
pub mod client_auth;
pub mod client_ip;
pub mod client_keys;
pub mod console;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod factor_pages;
pub mod federation;
pub mod form;
pub mod media_type;
pub mod metrics;
pub mod origin;
pub mod outbound;
pub mod pages;
pub mod pending_sign_in;
pub mod relying_party;
pub mod request_id;
pub mod request_object;
pub mod route_metrics;
pub mod routes;
pub mod server;
pub mod settings;
pub mod state;
pub mod tls_listener;
pub mod token_request;

pub use routes::{App, router};
pub use server::{Listeners, serve};
pub use settings::AuthSettings;
pub use state::{AppState, EmailDelivery, ServerState, StartupError};
