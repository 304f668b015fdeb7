//! `portcullis login`, `portcullis token` and `portcullis logout`: a native client of the
//! Authorization Code flow with PKCE and a loopback redirect (RFC 8252 §7.3), or, with
//! `--device`, of the device authorization grant (RFC 8628) for machines without a browser.
//! Tokens are kept in the user's config directory with mode 0600 and refreshed when expired.

use anyhow::{Context, bail};
use axum::extract::RawQuery;
use axum::response::Html;
use clap::Args;
use portcullis_core::{Clock, SystemClock};
use portcullis_sdk::client::{ClientConfig, RelyingParty};
use portcullis_types::{ProviderMetadata, TokenResponse};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Flags of `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The issuer to sign in with.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    issuer: String,
    /// The public client to act as (registered with the loopback redirect http://127.0.0.1/callback).
    #[arg(long, default_value = "demo-cli")]
    client_id: String,
    /// The scope to ask for.
    #[arg(long, default_value = "openid profile offline_access")]
    scope: String,
    /// Sign in on another device: print a URL and a code to type there, and wait (RFC 8628).
    #[arg(long)]
    device: bool,
}

/// The answer of the device authorization endpoint (RFC 8628 §3.2).
#[derive(Debug, Deserialize)]
struct DeviceCodes {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

/// What is kept between commands.
#[derive(Debug, Serialize, Deserialize)]
struct StoredTokens {
    issuer: String,
    client_id: String,
    token_endpoint: String,
    revocation_endpoint: Option<String>,
    access_token: String,
    refresh_token: Option<String>,
    expires_at: i64,
}

/// `PORTCULLIS_TOKEN_FILE`, else `$XDG_CONFIG_HOME/portcullis/tokens.json`, else
/// `~/.config/portcullis/tokens.json`.
fn token_file() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PORTCULLIS_TOKEN_FILE") {
        return Ok(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .context("cannot find a config directory; set PORTCULLIS_TOKEN_FILE")?;
    Ok(base.join("portcullis").join("tokens.json"))
}

fn save(tokens: &StoredTokens) -> anyhow::Result<()> {
    let path = token_file()?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(&serde_json::to_vec_pretty(tokens)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    Ok(())
}

fn load() -> anyhow::Result<StoredTokens> {
    let path = token_file()?;
    let text = std::fs::read_to_string(&path)
        .map_err(|_| anyhow::anyhow!("not signed in; run `portcullis login`"))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is damaged; run `portcullis login`", path.display()))
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// The `error` of an OAuth error response (RFC 6749 §5.2), or `unknown error`.
async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    body["error"].as_str().unwrap_or("unknown error").to_owned()
}

async fn token_request(
    http: &reqwest::Client,
    endpoint: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<TokenResponse> {
    let response = http
        .post(endpoint)
        .form(form)
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    if !response.status().is_success() {
        bail!("the token endpoint refused: {}", error_code(response).await);
    }
    Ok(response.json().await?)
}

fn stored(
    previous: Option<&StoredTokens>,
    issuer: &str,
    client_id: &str,
    metadata: (&str, Option<&str>),
    response: TokenResponse,
) -> StoredTokens {
    StoredTokens {
        issuer: issuer.to_owned(),
        client_id: client_id.to_owned(),
        token_endpoint: metadata.0.to_owned(),
        revocation_endpoint: metadata.1.map(str::to_owned),
        access_token: response.access_token,
        refresh_token: response
            .refresh_token
            .or_else(|| previous.and_then(|tokens| tokens.refresh_token.clone())),
        expires_at: SystemClock.now() + i64::try_from(response.expires_in).unwrap_or(0),
    }
}

impl LoginArgs {
    /// Signs in through the browser and stores the tokens.
    ///
    /// # Errors
    /// Discovery, callback or token failures, each in one line.
    pub async fn run(self) -> anyhow::Result<()> {
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        let http = http()?;
        // The loopback redirect (RFC 8252 §7.3) is known once its port is bound.
        let listener = if self.device {
            None
        } else {
            Some(tokio::net::TcpListener::bind("127.0.0.1:0").await?)
        };
        let redirect_uri = match &listener {
            Some(listener) => format!("http://{}/callback", listener.local_addr()?),
            None => String::new(),
        };
        let relying_party = RelyingParty::discover(
            &issuer,
            ClientConfig {
                client_id: self.client_id.clone(),
                client_secret: None,
                redirect_uri,
            },
        )
        .await
        .map_err(|error| anyhow::anyhow!("{issuer}: {error}"))?;
        let metadata = relying_party.metadata();
        let response = match listener {
            Some(listener) => {
                self.sign_in_in_the_browser(&relying_party, listener)
                    .await?
            }
            None => self.sign_in_on_another_device(&http, metadata).await?,
        };
        let tokens = stored(
            None,
            &issuer,
            &self.client_id,
            (
                &metadata.token_endpoint,
                metadata.revocation_endpoint.as_deref(),
            ),
            response,
        );
        save(&tokens)?;
        println!("Signed in to {issuer}. `portcullis token` prints an access token.");
        Ok(())
    }

    /// The Authorization Code flow with PKCE through the browser and a loopback redirect, by
    /// the SDK's relying party (which also checks `state`, RFC 9207 `iss` and the id token).
    async fn sign_in_in_the_browser(
        &self,
        relying_party: &RelyingParty,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<TokenResponse> {
        let (pending, url) = relying_party
            .start(&self.scope, &[])
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        println!("Open this URL to sign in:\n{url}");
        if std::env::var_os("PORTCULLIS_NO_BROWSER").is_none() {
            // Best effort; the printed URL is the fallback.
            let _ = std::process::Command::new("xdg-open")
                .arg(&url)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
        }
        let (sender, receiver) = oneshot::channel::<String>();
        let sender = Arc::new(Mutex::new(Some(sender)));
        let app = axum::Router::new().route(
            "/callback",
            axum::routing::get(move |RawQuery(query): RawQuery| {
                let sender = sender.clone();
                async move {
                    if let Some(sender) = sender.lock().ok().and_then(|mut slot| slot.take()) {
                        let _ = sender.send(query.unwrap_or_default());
                    }
                    Html("<!doctype html><title>Portcullis</title><p>Signed in. You can close this window and return to the terminal.</p>")
                }
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let query = tokio::time::timeout(Duration::from_secs(300), receiver)
            .await
            .context("no sign-in within 5 minutes")?
            .context("the callback server stopped")?;
        server.abort();
        let code = relying_party
            .callback(&pending, &query)
            .map_err(|error| anyhow::anyhow!("sign-in failed: {error}"))?;
        let (tokens, _) = relying_party
            .exchange(&pending, &code)
            .await
            .map_err(|error| anyhow::anyhow!("sign-in failed: {error}"))?;
        Ok(TokenResponse {
            access_token: tokens.access_token,
            token_type: tokens.token_type,
            expires_in: tokens.expires_in.unwrap_or_default(),
            scope: tokens.scope,
            refresh_token: tokens.refresh_token,
            id_token: tokens.id_token,
            issued_token_type: None,
        })
    }

    /// The device authorization grant (RFC 8628 §3): prints where to go and the code to type,
    /// then polls at the interval the server asks for until the user decides.
    async fn sign_in_on_another_device(
        &self,
        http: &reqwest::Client,
        metadata: &ProviderMetadata,
    ) -> anyhow::Result<TokenResponse> {
        let endpoint = metadata
            .device_authorization_endpoint
            .as_deref()
            .context("the issuer offers no device sign-in (RFC 8628)")?;
        let response = http
            .post(endpoint)
            .form(&[("client_id", &self.client_id), ("scope", &self.scope)])
            .send()
            .await
            .with_context(|| format!("cannot reach {endpoint}"))?;
        if !response.status().is_success() {
            bail!(
                "the device sign-in was refused: {}",
                error_code(response).await
            );
        }
        let codes: DeviceCodes = response
            .json()
            .await
            .context("the device authorization answer is unreadable")?;
        println!(
            "To sign in, open {} on any device and type the code {}",
            codes.verification_uri, codes.user_code
        );
        if let Some(complete) = &codes.verification_uri_complete {
            println!("or open {complete}");
        }
        std::io::stdout().flush()?;
        // At most an hour, whatever the server says.
        let deadline =
            tokio::time::Instant::now() + Duration::from_secs(codes.expires_in.min(3600));
        // §3.5: 5 seconds unless the server says otherwise, 5 more after each slow_down.
        let mut interval = Duration::from_secs(codes.interval.unwrap_or(5).max(1));
        loop {
            tokio::time::sleep(interval).await;
            if tokio::time::Instant::now() >= deadline {
                bail!("the code expired; run `portcullis login --device` again");
            }
            let response = http
                .post(&metadata.token_endpoint)
                .form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("device_code", &codes.device_code),
                    ("client_id", &self.client_id),
                ])
                .send()
                .await
                .with_context(|| format!("cannot reach {}", metadata.token_endpoint))?;
            if response.status().is_success() {
                return Ok(response.json().await?);
            }
            // A server briefly unavailable is asked again at the next interval.
            if response.status().is_server_error() {
                continue;
            }
            match error_code(response).await.as_str() {
                "authorization_pending" => {}
                "slow_down" => interval += Duration::from_secs(5),
                "access_denied" => bail!("the sign-in was denied"),
                "expired_token" => bail!("the code expired; run `portcullis login --device` again"),
                other => bail!("the token endpoint refused: {other}"),
            }
        }
    }
}

/// `portcullis token`: prints a valid access token, refreshing it first if it has expired.
///
/// # Errors
/// Not signed in, or the refresh was refused.
pub async fn print_token() -> anyhow::Result<()> {
    println!("{}", current_access_token().await?);
    Ok(())
}

/// The signed-in access token, refreshed first if it has expired (`portcullis admin --server`
/// acts with it).
///
/// # Errors
/// Not signed in, or the refresh was refused.
pub async fn current_access_token() -> anyhow::Result<String> {
    let tokens = load()?;
    if SystemClock.now() < tokens.expires_at - 10 {
        return Ok(tokens.access_token);
    }
    let refresh_token = tokens.refresh_token.clone().context(
        "the access token expired and there is no refresh token; run `portcullis login`",
    )?;
    let response = token_request(
        &http()?,
        &tokens.token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &tokens.client_id),
        ],
    )
    .await
    .context("cannot refresh; run `portcullis login`")?;
    let refreshed = stored(
        Some(&tokens),
        &tokens.issuer,
        &tokens.client_id,
        (
            &tokens.token_endpoint,
            tokens.revocation_endpoint.as_deref(),
        ),
        response,
    );
    save(&refreshed)?;
    Ok(refreshed.access_token)
}

/// `portcullis logout`: revokes the refresh token (its whole family) and forgets the tokens.
///
/// # Errors
/// File failures; an unreachable issuer is reported but the tokens are forgotten anyway.
pub async fn logout() -> anyhow::Result<()> {
    let tokens = load()?;
    if let (Some(endpoint), Some(refresh_token)) =
        (&tokens.revocation_endpoint, &tokens.refresh_token)
    {
        let revoked = http()?
            .post(endpoint)
            .form(&[
                ("token", refresh_token.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", tokens.client_id.as_str()),
            ])
            .send()
            .await;
        if !revoked.is_ok_and(|response| response.status().is_success()) {
            eprintln!("warning: the issuer did not confirm the revocation");
        }
    }
    std::fs::remove_file(token_file()?)?;
    println!("Signed out.");
    Ok(())
}
