//! `portcullis token decode|verify`: inspect a JWT, or verify it against its issuer's JWKS.

use anyhow::{Context, bail};
use clap::Subcommand;
use portcullis_core::{Clock, SystemClock};
use portcullis_jose::{AccessTokenValidation, KeySet, UnverifiedJws};
use portcullis_types::{JwkSet, ProviderMetadata};
use std::time::Duration;

/// Token tools.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a token's header and claims WITHOUT verifying anything.
    Decode {
        /// The JWT.
        token: String,
    },
    /// Verify an access token's signature and claims against the issuer's published keys.
    Verify {
        /// The JWT.
        token: String,
        /// The issuer the token must come from; its discovery document names the JWKS.
        #[arg(long, value_name = "URL")]
        issuer: String,
        /// An audience the token must be for.
        #[arg(long, value_name = "AUDIENCE")]
        audience: Option<String>,
        /// Clock skew tolerated on exp/nbf, in seconds.
        #[arg(long, default_value_t = 60)]
        leeway: i64,
    },
}

impl TokenCommand {
    /// Runs the command.
    ///
    /// # Errors
    /// A malformed token, an unreachable issuer, or a token that fails verification.
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            TokenCommand::Decode { token } => decode(&token),
            TokenCommand::Verify {
                token,
                issuer,
                audience,
                leeway,
            } => verify(&token, issuer.trim_end_matches('/'), audience, leeway).await,
        }
    }
}

fn decode(token: &str) -> anyhow::Result<()> {
    let jws = UnverifiedJws::parse(token.trim()).context("not a JWT")?;
    let claims: serde_json::Value =
        serde_json::from_slice(jws.unverified_payload()).context("the payload is not JSON")?;
    println!("NOT VERIFIED: this shows what the token claims; nothing was checked.");
    println!("header: {}", serde_json::to_string_pretty(jws.header())?);
    println!("claims: {}", serde_json::to_string_pretty(&claims)?);
    Ok(())
}

async fn verify(
    token: &str,
    issuer: &str,
    audience: Option<String>,
    leeway: i64,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let discovery_url = format!("{issuer}/.well-known/oauth-authorization-server");
    let metadata: ProviderMetadata = fetch_json(&http, &discovery_url).await?;
    // RFC 8414 §3.3: the issuer in the metadata must be identical to the one asked for.
    if metadata.issuer != issuer {
        bail!(
            "{discovery_url} names issuer `{}`, not `{issuer}`",
            metadata.issuer
        );
    }
    let jwks: JwkSet = fetch_json(&http, &metadata.jwks_uri).await?;
    let keys = KeySet::from_jwks(&jwks);
    let validation = AccessTokenValidation {
        issuer: issuer.to_owned(),
        audience,
        leeway_secs: leeway,
    };
    let validated = validation
        .validate(token.trim(), &keys, SystemClock.now())
        .context("token is NOT valid")?;
    println!(
        "VERIFIED: signature by key {} of {issuer}; claims checked.",
        validated.kid
    );
    println!(
        "claims: {}",
        serde_json::to_string_pretty(&validated.claims)?
    );
    Ok(())
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> anyhow::Result<T> {
    let response = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    response
        .json()
        .await
        .with_context(|| format!("{url} did not return the expected JSON"))
}
