//! End-to-end tests of the auth server and the `portcullis` binary: real loopback sockets, real
//! SQLite, the real CLI, and tokens checked by an independent JOSE implementation.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod account;
mod admin_api;
mod admin_server;
mod apply;
mod auth_tls;
mod backchannel_logout;
mod browser;
mod cli;
mod client_changes;
mod client_credentials;
mod client_id_documents;
mod client_registration;
mod cluster;
mod code_flow;
mod console;
mod device;
mod discovery;
mod dpop;
mod durability;
mod email;
mod federation;
mod gateway_cli;
mod key_rotation;
mod login;
mod operations;
mod outages;
mod par;
mod passkeys;
mod password_change;
mod password_reset;
mod personal_access_tokens;
mod private_key_jwt;
mod registration;
mod request_objects;
mod revocation_leeway;
mod roles;
mod sessions;
mod sign_in_abuse;
mod strong_auth;
mod support;
mod token_errors;
mod token_exchange;
mod up;

/// The line of `portcullis up`'s output after which the walkthrough's commands follow.
fn e2e_up_marker() -> &'static str {
    "Try it (paste the lines one by one):"
}
