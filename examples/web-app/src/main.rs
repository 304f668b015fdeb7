//! `web-app [--listen ADDR] [--issuer URL] [--client-id ID]`, with the client secret in
//! `WEB_APP_CLIENT_SECRET` (unset: a public client). Defaults: 127.0.0.1:3004, issuer
//! http://127.0.0.1:3000, client `demo-web-app`; its redirect URI is `http://<listen>/callback`.

use portcullis_sdk::client::{ClientConfig, RelyingParty};

fn flag(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|arg| arg != name);
    args.next().and(args.next())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = flag("--listen").unwrap_or_else(|| "127.0.0.1:3004".to_owned());
    let issuer = flag("--issuer").unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let address = listener.local_addr()?;
    let relying_party = RelyingParty::discover(
        &issuer,
        ClientConfig {
            client_id: flag("--client-id").unwrap_or_else(|| "demo-web-app".to_owned()),
            client_secret: std::env::var("WEB_APP_CLIENT_SECRET").ok(),
            redirect_uri: format!("http://{address}/callback"),
        },
    )
    .await?;
    println!("web-app listening on http://{address}");
    axum::serve(
        listener,
        web_app::router(web_app::WebApp::new(relying_party)),
    )
    .await?;
    Ok(())
}
