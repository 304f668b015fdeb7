//! The Portcullis API gateway: the single entry point in front of backend services.
//!
//! Every request passes an ordered pipeline of small stages (pingora's phases), each in its own
//! module and testable alone: [`identity`] strips spoofable headers, [`request_target`]
//! normalizes the path ([`path`]) and settles the host, [`routes`] matches,
//! [`authenticate`] validates the bearer token against cached issuer keys
//! (`portcullis_jose::remote_key_set`), or asks the issuer about opaque ones ([`introspection`]), and
//! consults the revocation set ([`revocations`]), [`policy`]
//! authorizes, [`rate_limit`] meters, [`proxy`] forwards with a trusted identity over
//! [`upstream`]'s pooled connections; [`protected_resource`] serves routes' RFC 9728 metadata; [`forward_auth`] answers the
//! proxies in front that ask whether a request may pass; [`session`] signs browsers in and keeps
//! their tokens server-side. [`pipeline`] strings them together; [`server`] runs the
//! listeners on [`worker`] threads; [`build`] assembles a gateway from its configuration.

pub mod authenticate;
pub mod build;
pub mod cluster;
pub mod config;
pub mod dpop;
pub mod error;
pub mod forward_auth;
pub mod identity;
pub mod introspection;
pub mod metrics;
pub mod path;
pub mod pipeline;
pub mod policy;
pub mod protected_resource;
pub mod proxy;
pub mod rate_limit;
pub mod request_head;
pub mod request_target;
pub mod revocations;
pub mod routes;
pub mod server;
pub mod session;
pub mod shared_rate_limit;
pub mod token_cache;
pub mod upstream;
pub mod upstream_budget;
pub mod worker;

pub use build::{RunningGateway, start};
pub use config::GatewayConfig;
