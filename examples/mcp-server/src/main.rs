//! `mcp-server [--listen ADDR] [--issuer URL] --audience RESOURCE`: the MCP example server.
//! Defaults: 127.0.0.1:3003, issuer http://127.0.0.1:3000; the audience is the resource
//! identifier of the gateway route in front (e.g. http://127.0.0.1:4000/mcp).

use portcullis_sdk::Verifier;
use std::sync::Arc;

fn flag(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|arg| arg != name);
    args.next().and(args.next())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = flag("--listen").unwrap_or_else(|| "127.0.0.1:3003".to_owned());
    let issuer = flag("--issuer").unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let audience = flag("--audience").ok_or("--audience (the route's resource) is required")?;
    let verifier = Verifier::for_issuer(&issuer, Some(&audience)).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "mcp-server listening on http://{}/mcp",
        listener.local_addr()?
    );
    axum::serve(listener, mcp_server::router(Arc::new(verifier))).await?;
    Ok(())
}
