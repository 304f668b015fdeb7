//! The operations of each scenario.

use crate::{Args, Scenario};
use portcullis_testkit::browser::{Browser, pkce_pair, query_param};
use serde_json::Value;
use std::sync::Arc;

/// What the workers share.
#[derive(Clone)]
pub struct Target {
    scenario: Scenario,
    http: reqwest::Client,
    settings: Arc<Settings>,
}

struct Settings {
    url: String,
    client: String,
    secret: Option<String>,
    redirect_uri: String,
    username: String,
    password: String,
}

/// A worker's own state.
pub enum WorkerState {
    /// Nothing to keep.
    Stateless,
    /// The worker's current refresh token.
    Refresh(String),
}

impl Target {
    /// Checks the arguments of the scenario.
    ///
    /// # Errors
    /// A missing client secret for client credentials.
    pub async fn new(args: &Args) -> anyhow::Result<Self> {
        if args.scenario == Scenario::ClientCredentials && args.secret.is_none() {
            anyhow::bail!("client-credentials needs --secret");
        }
        Ok(Target {
            scenario: args.scenario,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(args.concurrency)
                .build()?,
            settings: Arc::new(Settings {
                url: args.url.trim_end_matches('/').to_owned(),
                client: args.client.clone(),
                secret: args.secret.clone(),
                redirect_uri: args.redirect_uri.clone(),
                username: args.username.clone(),
                password: args.password.clone(),
            }),
        })
    }

    /// Sets a worker up (refresh: signs in once for its own refresh token family).
    ///
    /// # Errors
    /// When the sign-in does not yield a refresh token.
    pub async fn prepare(&self) -> anyhow::Result<WorkerState> {
        match self.scenario {
            Scenario::Refresh => {
                let tokens = self.code_flow("openid offline_access").await;
                let refresh = tokens["refresh_token"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("no refresh token: {tokens}"))?;
                Ok(WorkerState::Refresh(refresh.to_owned()))
            }
            _ => Ok(WorkerState::Stateless),
        }
    }

    /// One operation; `true` when it succeeded.
    pub async fn operate(&self, state: &mut WorkerState) -> bool {
        let settings = &self.settings;
        match (self.scenario, state) {
            (Scenario::ClientCredentials, _) => self
                .http
                .post(format!("{}/token", settings.url))
                .basic_auth(&settings.client, settings.secret.as_deref())
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .is_ok_and(|response| response.status() == 200),
            (Scenario::Refresh, WorkerState::Refresh(current)) => {
                let response = self
                    .http
                    .post(format!("{}/token", settings.url))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", current.as_str()),
                        ("client_id", settings.client.as_str()),
                    ])
                    .send()
                    .await;
                let Ok(response) = response else { return false };
                let Ok(body) = response.json::<Value>().await else {
                    return false;
                };
                match body["refresh_token"].as_str() {
                    Some(next) => {
                        *current = next.to_owned();
                        true
                    }
                    None => false,
                }
            }
            (Scenario::CodeFlow, _) => self.code_flow("openid").await["access_token"].is_string(),
            (Scenario::Refresh, WorkerState::Stateless) => false,
        }
    }

    /// A whole Authorization Code + PKCE flow in a fresh browser; the token response.
    async fn code_flow(&self, scope: &str) -> Value {
        let settings = &self.settings;
        let browser = Browser::new();
        let (verifier, challenge) = pkce_pair();
        let mut query = form_urlencoded_pairs(&[
            ("response_type", "code"),
            ("client_id", &settings.client),
            ("redirect_uri", &settings.redirect_uri),
            ("scope", scope),
            ("state", "bench"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        query.insert_str(0, &format!("{}/authorize?", settings.url));
        let callback = browser
            .authorize(
                &settings.url,
                &query,
                (&settings.username, &settings.password),
                &settings.redirect_uri,
            )
            .await;
        let code = query_param(&callback, "code").unwrap_or_default();
        let response = self
            .http
            .post(format!("{}/token", settings.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", settings.redirect_uri.as_str()),
                ("client_id", settings.client.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await;
        match response {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }
}

fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}
