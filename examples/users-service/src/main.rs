//! `users-service [--listen ADDR] [--issuer URL] [--audience A]`: the users example service.
//! Defaults: 127.0.0.1:3001, issuer http://127.0.0.1:3000, no audience requirement.

use portcullis_sdk::Verifier;
use std::sync::Arc;

fn flag(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|arg| arg != name);
    args.next().and(args.next())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = flag("--listen").unwrap_or_else(|| "127.0.0.1:3001".to_owned());
    let issuer = flag("--issuer").unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let verifier = Verifier::for_issuer(&issuer, flag("--audience").as_deref()).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!(
        "users-service listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, users_service::router(Arc::new(verifier))).await?;
    Ok(())
}
