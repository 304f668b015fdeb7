//! End-to-end tests of the auth server and the `portcullis` binary: real loopback sockets, real
//! SQLite, the real CLI, and tokens checked by an independent JOSE implementation.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod browser;
mod cli;
mod client_credentials;
mod code_flow;
mod discovery;
mod durability;
mod gateway_cli;
mod key_rotation;
mod operations;
mod sessions;
mod support;
mod token_errors;
