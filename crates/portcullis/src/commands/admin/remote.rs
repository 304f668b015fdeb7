//! `portcullis admin --server URL`: the admin API of a running auth server, with the token of
//! `portcullis login` or a client-credentials token of an automation client.

use anyhow::{Context, bail};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where the admin token comes from.
pub(crate) enum RemoteAuth {
    /// The access token of `portcullis login` (refreshed when expired).
    Login,
    /// A client-credentials token for the issuer's own audience.
    ClientCredentials {
        /// The issuer (its discovery names the token endpoint).
        issuer: String,
        /// The client id.
        client_id: String,
        /// Its secret (from `PORTCULLIS_ADMIN_CLIENT_SECRET`).
        secret: String,
    },
}

/// A connection to the admin API.
pub(crate) struct RemoteAdmin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl RemoteAdmin {
    /// Gets a token and addresses the admin listener at `server`; `ca_file` is a PEM bundle to
    /// trust for https (both the server and the issuer) instead of the system's roots.
    pub(crate) async fn connect(
        server: &str,
        auth: RemoteAuth,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        refuse_plain_remote(server)?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} holds no PEM certificate", path.display()))?;
            builder = builder.tls_certs_only(certificates);
        }
        let http = builder.build()?;
        let token = match auth {
            RemoteAuth::Login => crate::commands::login::current_access_token().await?,
            RemoteAuth::ClientCredentials {
                issuer,
                client_id,
                secret,
            } => client_credentials(&http, &issuer, &client_id, &secret).await?,
        };
        Ok(RemoteAdmin {
            base: server.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// Sends `method path` with an optional JSON body; `None` for `204 No Content`.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
    ) -> anyhow::Result<Option<T>> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = response.status();
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let text = response.text().await?;
        if !status.is_success() {
            let error: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let message = error["message"].as_str().unwrap_or("no details");
            match error["field"].as_str() {
                Some(field) => {
                    bail!("the admin API refused ({status}): {message} (field `{field}`)")
                }
                None => bail!("the admin API refused ({status}): {message}"),
            }
        }
        let value =
            serde_json::from_str(&text).with_context(|| format!("unexpected answer from {url}"))?;
        Ok(Some(value))
    }

    /// `GET path`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(Method::GET, path, None::<&()>)
            .await?
            .context("the admin API answered without a body")
    }

    /// `method path` with `body`, expecting a JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &(impl Serialize + Sync),
    ) -> anyhow::Result<T> {
        self.send(method, path, Some(body))
            .await?
            .context("the admin API answered without a body")
    }

    /// `DELETE path`.
    pub(crate) async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.send::<serde_json::Value>(Method::DELETE, path, None::<&()>)
            .await
            .map(drop)
    }
}

/// Admin tokens, passwords and secrets never travel in clear text off this machine: `url` must
/// be https, or http to a loopback address.
fn refuse_plain_remote(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid URL {url}"))?;
    let loopback = parsed
        .host_str()
        .is_some_and(portcullis_core::network_address::is_loopback_host);
    if parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback) {
        Ok(())
    } else {
        bail!("{url}: use https (plain http only to a loopback address)")
    }
}

/// A path segment, percent-encoded.
pub(crate) fn segment(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

async fn client_credentials(
    http: &reqwest::Client,
    issuer: &str,
    client_id: &str,
    secret: &str,
) -> anyhow::Result<String> {
    let issuer = issuer.trim_end_matches('/');
    refuse_plain_remote(issuer)?;
    let discovery: serde_json::Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .with_context(|| format!("cannot reach the issuer {issuer}"))?
        .json()
        .await
        .context("the issuer's discovery document is not JSON")?;
    let endpoint = discovery["token_endpoint"]
        .as_str()
        .context("the issuer's discovery names no token endpoint")?;
    // The client secret goes only to the issuer itself.
    let same_origin = |url: &str| reqwest::Url::parse(url).map(|url| url.origin());
    if same_origin(endpoint).ok() != same_origin(issuer).ok() {
        bail!("the issuer's discovery names a token endpoint elsewhere: {endpoint}");
    }
    let response = http
        .post(endpoint)
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("audience", issuer)])
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match body["access_token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => bail!(
            "the token endpoint refused client `{client_id}`: {}",
            body["error"].as_str().unwrap_or("unknown error")
        ),
    }
}
