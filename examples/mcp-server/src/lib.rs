//! The MCP example server: the Model Context Protocol's streamable HTTP transport (specification
//! 2025-11-25, "Transports") at `POST /mcp`, stateless, answering each JSON-RPC request with one
//! JSON response. Behind the Portcullis gateway, which refuses callers without a token for this
//! resource and points them to its protected resource metadata (how MCP clients find the auth
//! server); the server verifies the token again with the SDK and offers two tools: `whoami`
//! (the signed-in user) and `list_products` (scope `products:read`).

mod protocol;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use portcullis_sdk::{Identity, Verifier};
use std::sync::Arc;

pub use protocol::PROTOCOL_VERSIONS;

/// The server's routes, identifying callers with `verifier` (whose audience is the resource
/// identifier of the gateway route in front).
pub fn router(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/mcp", post(message).get(no_stream).delete(no_stream))
        .with_state(verifier)
}

/// No server-initiated stream and no sessions (stateless): `GET` and `DELETE` are 405, which
/// the transport allows.
async fn no_stream() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, "POST")],
        "this MCP server answers POST only",
    )
        .into_response()
}

/// One JSON-RPC message from the client.
async fn message(identity: Identity, headers: HeaderMap, body: Bytes) -> Response {
    // Transports §"Security Warning": servers MUST validate `Origin` (DNS rebinding). Browsers
    // send it; the tools are not for web pages, so any `Origin` is refused.
    if headers.contains_key(header::ORIGIN) {
        return (StatusCode::FORBIDDEN, "cross-origin requests are refused").into_response();
    }
    // §"Protocol Version Header": an unsupported version is 400.
    if let Some(version) = headers.get("mcp-protocol-version")
        && !PROTOCOL_VERSIONS.contains(&version.to_str().unwrap_or_default())
    {
        return (StatusCode::BAD_REQUEST, "unsupported MCP-Protocol-Version").into_response();
    }
    match protocol::answer(&identity, &body) {
        // A notification or a response: 202 with no body.
        None => StatusCode::ACCEPTED.into_response(),
        Some(answer) => (
            [(header::CONTENT_TYPE, "application/json")],
            answer.to_string(),
        )
            .into_response(),
    }
}
