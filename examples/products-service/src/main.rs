//! `products-service [--listen ADDR] [--issuer URL] [--audience A]`: the products example service.
//! Defaults: 127.0.0.1:3002, issuer http://127.0.0.1:3000, no audience requirement.

use portcullis_sdk::Verifier;
use std::sync::Arc;

fn flag(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|arg| arg != name);
    args.next().and(args.next())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = flag("--listen").unwrap_or_else(|| "127.0.0.1:3002".to_owned());
    let issuer = flag("--issuer").unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let verifier = Verifier::for_issuer(&issuer, flag("--audience").as_deref()).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "products-service listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, products_service::router(Arc::new(verifier))).await?;
    Ok(())
}
