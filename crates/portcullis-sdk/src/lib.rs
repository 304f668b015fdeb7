//! The Portcullis SDK for resource services: who is calling, and may they?
//!
//! By default a service **verifies the bearer token** that the gateway forwards, against the
//! issuer's published keys, so a request that reaches the service directly with forged
//! `X-Portcullis-*` headers and no valid token is refused with 401. A service that is reachable
//! only through the gateway (network isolation) may instead trust the gateway's identity headers
//! ([`Verifier::trust_gateway_headers`]); that mode trusts anyone who can reach the service.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use portcullis_sdk::{AuthError, Identity, Verifier};
//! use std::sync::Arc;
//!
//! async fn me(identity: Identity) -> String {
//!     format!("Welcome, {}!", identity.subject)
//! }
//!
//! async fn admin_only(identity: Identity) -> Result<&'static str, AuthError> {
//!     identity.require_role("admin")?;
//!     Ok("hello, admin")
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Arc::new(Verifier::for_issuer("http://127.0.0.1:3000", Some("https://api.example")).await?);
//! let app: Router = Router::new()
//!     .route("/users/me", get(me))
//!     .route("/users", get(admin_only))
//!     .with_state(verifier);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

#[cfg(feature = "axum")]
mod axum_extractor;
mod bearer;
#[cfg(feature = "client")]
pub mod client;
mod clock;
mod dpop_check;
mod error;
mod identity;
#[cfg(feature = "axum")]
mod layer;
pub mod request_id;
mod step_up;
mod verifier;

pub use bearer::{BearerError, TokenScheme, access_token, bearer_token};
pub use clock::unix_now;
pub use error::AuthError;
pub use identity::{IDENTITY_HEADER_PREFIX, Identity};
#[cfg(feature = "axum")]
pub use layer::{RequireIdentity, RequireIdentityLayer};
pub use step_up::AuthenticationRequirement;
pub use verifier::{Verifier, VerifierError};
