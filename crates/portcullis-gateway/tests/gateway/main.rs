//! End-to-end tests of the gateway: a real auth server, a real upstream that echoes what it
//! received, and the gateway between them, all on loopback ports.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod dpop;
mod forward_auth;
mod forwarding;
mod introspection;
mod limits;
mod normalization;
mod protected_resource;
mod session;
mod step_up;
mod support;
mod tokens;
mod upstream_budget;
mod upstream_pool;
mod upstream_tls;

/// The `kid` of a token, read without verification.
fn gateway_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}
