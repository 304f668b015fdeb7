//! The operations of each scenario.

use crate::{Args, Scenario};
use portcullis_sdk::unix_now;
use portcullis_testkit::browser::{Browser, hidden_fields, location, pkce_pair, query_param};
use serde_json::Value;
use std::sync::Arc;

/// What the workers share.
#[derive(Clone)]
pub struct Target {
    scenario: Scenario,
    http: reqwest::Client,
    settings: Arc<Settings>,
    gateway: Option<Arc<GatewayCalls>>,
}

/// A gateway scenario's token and, for DPoP, the proofs made in advance.
struct GatewayCalls {
    url: String,
    authorization: String,
    proofs: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
}

struct Settings {
    url: String,
    client: String,
    secret: Option<String>,
    redirect_uri: String,
    username: String,
    password: String,
}

/// How one operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Done,
    /// The server refused it as overloaded (503), as admission control does.
    Refused,
    /// Anything else.
    Failed,
}

impl From<bool> for Outcome {
    fn from(succeeded: bool) -> Self {
        if succeeded {
            Outcome::Done
        } else {
            Outcome::Failed
        }
    }
}

/// A worker's own state.
pub enum WorkerState {
    /// Nothing to keep.
    Stateless,
    /// The worker's current refresh token.
    Refresh(String),
    /// A browser on the sign-in page, and the form to post there.
    SignInPage(Browser, Vec<(String, String)>),
}

impl Target {
    /// Checks the arguments of the scenario.
    ///
    /// # Errors
    /// A missing client secret for client credentials.
    pub async fn new(args: &Args) -> anyhow::Result<Self> {
        let gateway_scenario = matches!(
            args.scenario,
            Scenario::GatewayBearer | Scenario::GatewayDpop
        );
        if (args.scenario == Scenario::ClientCredentials || gateway_scenario)
            && args.secret.is_none()
        {
            anyhow::bail!("{:?} needs --secret", args.scenario);
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(args.concurrency)
            .build()?;
        let gateway = if gateway_scenario {
            Some(Arc::new(gateway_calls(&http, args).await?))
        } else {
            None
        };
        Ok(Target {
            scenario: args.scenario,
            gateway,
            http,
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

    /// Readies the next operation, untimed (sign-in: a fresh browser's authorization request
    /// and its sign-in page); `false` when that failed.
    pub async fn set_up(&self, state: &mut WorkerState) -> bool {
        if self.scenario != Scenario::SignIn {
            return true;
        }
        match self.sign_in_page().await {
            Some((browser, fields)) => {
                *state = WorkerState::SignInPage(browser, fields);
                true
            }
            None => false,
        }
    }

    /// One operation and how it ended.
    pub async fn operate(&self, state: &mut WorkerState) -> Outcome {
        if let WorkerState::SignInPage(browser, fields) = state {
            let signed_in = browser
                .post(&format!("{}/signin", self.settings.url), fields)
                .await;
            return match signed_in.status().as_u16() {
                303 => Outcome::Done,
                503 => Outcome::Refused,
                _ => Outcome::Failed,
            };
        }
        self.operate_once(state).await.into()
    }

    /// One operation of the scenarios that succeed or fail; `true` when it succeeded.
    async fn operate_once(&self, state: &mut WorkerState) -> bool {
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
            (Scenario::SignIn, _) | (Scenario::Refresh, WorkerState::SignInPage(..)) => false,
            (Scenario::GatewayBearer | Scenario::GatewayDpop, _) => {
                let Some(gateway) = &self.gateway else {
                    return false;
                };
                let mut request = self
                    .http
                    .get(&gateway.url)
                    .header("authorization", &gateway.authorization);
                if !gateway.proofs.is_empty() {
                    let index = gateway
                        .next
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(proof) = gateway.proofs.get(index) else {
                        if index == gateway.proofs.len() {
                            eprintln!("out of DPoP proofs: raise --proofs");
                        }
                        return false;
                    };
                    request = request.header("dpop", proof);
                }
                request
                    .send()
                    .await
                    .is_ok_and(|response| response.status() == 200)
            }
            (Scenario::Refresh, WorkerState::Stateless) => false,
        }
    }

    /// A fresh browser on the sign-in page of an authorization request, with the form's fields
    /// filled in; `None` when the server did not show the page.
    async fn sign_in_page(&self) -> Option<(Browser, Vec<(String, String)>)> {
        let settings = &self.settings;
        let browser = Browser::new();
        let (_, challenge) = pkce_pair();
        let query = form_urlencoded_pairs(&[
            ("response_type", "code"),
            ("client_id", &settings.client),
            ("redirect_uri", &settings.redirect_uri),
            ("scope", "openid"),
            ("state", "bench"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let authorize = browser
            .get(&format!("{}/authorize?{query}", settings.url))
            .await;
        if authorize.status() != 303 {
            return None;
        }
        let (status, page) = browser.page(&location(&authorize, &settings.url)).await;
        if status != 200 || !page.contains("action=\"/signin\"") {
            return None;
        }
        let mut fields = hidden_fields(&page);
        fields.push(("username".into(), settings.username.clone()));
        fields.push(("password".into(), settings.password.clone()));
        Some((browser, fields))
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

/// Gets a client-credentials token (bound to a new key for DPoP) and makes the proofs.
async fn gateway_calls(http: &reqwest::Client, args: &Args) -> anyhow::Result<GatewayCalls> {
    use portcullis_testkit::dpop::DpopKey;
    let url = args
        .gateway
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the gateway scenarios need --gateway"))?;
    let token_url = format!("{}/token", args.url.trim_end_matches('/'));
    let dpop = args.scenario == Scenario::GatewayDpop;
    let key = DpopKey::new();
    let mut request = http
        .post(&token_url)
        .basic_auth(&args.client, args.secret.as_deref())
        .form(&[("grant_type", "client_credentials")]);
    if dpop {
        request = request.header("dpop", key.proof("POST", &token_url, unix_now(), None));
    }
    let body: Value = request.send().await?.json().await?;
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no token: {body}"))?
        .to_owned();
    let (authorization, proofs) = if dpop {
        // Signed on every core (the gateway is idle meanwhile), all with this `iat`: a proof is
        // good for a minute, so the run must start and end within it.
        let now = unix_now();
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let per_thread = args.proofs.div_ceil(threads);
        let proofs = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        (0..per_thread)
                            .map(|_| key.proof("GET", &url, now, Some(&token)))
                            .collect::<Vec<String>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().expect("signing thread"))
                .collect()
        });
        (format!("DPoP {token}"), proofs)
    } else {
        (format!("Bearer {token}"), Vec::new())
    };
    Ok(GatewayCalls {
        url,
        authorization,
        proofs,
        next: std::sync::atomic::AtomicUsize::new(0),
    })
}
