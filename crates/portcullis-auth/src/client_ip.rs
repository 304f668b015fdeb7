//! The client's address as the auth server sees it: the TCP peer, or behind trusted proxies (a
//! load balancer, the gateway) the nearest address they name in `X-Forwarded-For`, read as the
//! gateway reads it. Throttling and audit events use it.

use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue};
use std::net::{IpAddr, SocketAddr};

/// The client address of a request from `peer`.
pub fn client_ip(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
    portcullis_core::client_address(
        peer.ip(),
        headers
            .get_all("x-forwarded-for")
            .iter()
            .map(HeaderValue::as_bytes),
        &state.settings.trusted_proxies,
    )
}
