//! The cluster under test, as its clients see it: the issuer (a load balancer over the auth
//! servers), each auth server's admin listener, and the gateways. Every call gives up after
//! two seconds, so an outage shows as failures rather than a stalled driver.

use crate::Args;
use portcullis_sdk::client::transport_error;
use portcullis_testkit::browser::{Browser, pkce_pair, query_param};
use serde_json::Value;
use std::time::Duration;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The cluster's addresses and the driver's clients there.
pub struct Cluster {
    http: reqwest::Client,
    issuer: String,
    admins: Vec<String>,
    gateways: Vec<String>,
    service: (String, String),
    introspector: (String, String),
    operator: (String, String),
    app: String,
    redirect_uri: String,
    user: (String, String),
    admin_token: tokio::sync::RwLock<String>,
}

/// What a refresh request got.
pub enum Refreshed {
    /// A new refresh token.
    Rotated(String),
    /// `invalid_grant`: the token is not (or no longer) good.
    Refused,
}

impl Cluster {
    /// The cluster named by `args`.
    ///
    /// # Errors
    /// When no HTTP client can be built.
    pub fn new(args: &Args) -> anyhow::Result<Self> {
        Ok(Cluster {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()?,
            issuer: args.issuer.trim_end_matches('/').to_owned(),
            admins: args.admins.clone(),
            gateways: args.gateways.clone(),
            service: (args.service.clone(), args.service_secret.clone()),
            introspector: (args.introspector.clone(), args.introspector_secret.clone()),
            operator: (args.operator.clone(), args.operator_secret.clone()),
            app: args.app.clone(),
            redirect_uri: args.redirect_uri.clone(),
            user: (args.username.clone(), args.password.clone()),
            admin_token: tokio::sync::RwLock::new(String::new()),
        })
    }

    /// How many gateways there are.
    pub fn gateways(&self) -> usize {
        self.gateways.len()
    }

    /// A client-credentials access token of the service client (audience `api`).
    ///
    /// # Errors
    /// Anything but a token.
    pub async fn service_token(&self) -> Result<String, String> {
        self.client_credentials(&self.service, &[]).await
    }

    async fn client_credentials(
        &self,
        (id, secret): &(String, String),
        extra: &[(&str, &str)],
    ) -> Result<String, String> {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .map_err(transport_error)?;
        let body = json(response, 200).await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no access token: {body}"))
    }

    /// Gets the operator's admin API token anew.
    ///
    /// # Errors
    /// Anything but a token.
    pub async fn renew_admin_token(&self) -> Result<(), String> {
        let token = self
            .client_credentials(&self.operator, &[("audience", &self.issuer)])
            .await?;
        *self.admin_token.write().await = token;
        Ok(())
    }

    /// Creates `username` through the admin API of auth server `server` (201).
    ///
    /// # Errors
    /// Any other answer.
    pub async fn create_user(&self, server: usize, username: &str) -> Result<(), String> {
        let admin = &self.admins[server % self.admins.len()];
        let password = format!("{username} keeps a long and unlikely passphrase 7");
        let response = self
            .http
            .post(format!("{admin}/admin/v1/users"))
            .bearer_auth(self.admin_token.read().await.as_str())
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .map_err(transport_error)?;
        json(response, 201).await.map(drop)
    }

    /// Whether `username` exists (asked of the first admin listener).
    ///
    /// # Errors
    /// An answer other than 200 or 404.
    pub async fn user_exists(&self, username: &str) -> Result<bool, String> {
        let response = self
            .http
            .get(format!("{}/admin/v1/users/{username}", self.admins[0]))
            .bearer_auth(self.admin_token.read().await.as_str())
            .send()
            .await
            .map_err(transport_error)?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            status => Err(format!("answered {status}")),
        }
    }

    /// Whether introspection calls `token` active.
    ///
    /// # Errors
    /// Anything but an introspection answer.
    pub async fn token_active(&self, token: &str) -> Result<bool, String> {
        let (id, secret) = &self.introspector;
        let response = self
            .http
            .post(format!("{}/introspect", self.issuer))
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(transport_error)?;
        let body = json(response, 200).await?;
        body["active"]
            .as_bool()
            .ok_or_else(|| format!("no `active`: {body}"))
    }

    /// Revokes the service client's `token` (200).
    ///
    /// # Errors
    /// Any other answer.
    pub async fn revoke(&self, token: &str) -> Result<(), String> {
        let (id, secret) = &self.service;
        let response = self
            .http
            .post(format!("{}/revoke", self.issuer))
            .basic_auth(id, Some(secret))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(transport_error)?;
        status(response, 200).await
    }

    /// `GET` through gateway `gateway` with `token`: the status.
    ///
    /// # Errors
    /// No answer.
    pub async fn proxy(&self, gateway: usize, token: &str) -> Result<u16, String> {
        let url = &self.gateways[gateway % self.gateways.len()];
        let response = self
            .http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(transport_error)?;
        Ok(response.status().as_u16())
    }

    /// Signs the user in through a whole Authorization Code + PKCE flow in a fresh browser: the
    /// refresh token.
    ///
    /// # Errors
    /// What stopped the flow.
    pub async fn sign_in(&self) -> Result<String, String> {
        let browser = Browser::new();
        let (verifier, challenge) = pkce_pair();
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.app)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", "openid offline_access")
            .append_pair("state", "chaos")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let authorize = format!("{}/authorize?{query}", self.issuer);
        let (username, password) = &self.user;
        let callback = browser
            .try_authorize(
                &self.issuer,
                &authorize,
                (username, password),
                &self.redirect_uri,
            )
            .await?;
        let code = query_param(&callback, "code").ok_or("no code")?;
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("client_id", self.app.as_str()),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .map_err(transport_error)?;
        let body = json(response, 200).await?;
        body["refresh_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no refresh token: {body}"))
    }

    /// Redeems `refresh_token` once.
    ///
    /// # Errors
    /// An answer that is neither a rotation nor `invalid_grant` (no answer, a 5xx): whether the
    /// rotation happened is unknown.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Refreshed, String> {
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", self.app.as_str()),
            ])
            .send()
            .await
            .map_err(transport_error)?;
        let answered = response.status().as_u16();
        let body: Value = response.json().await.map_err(|error| error.to_string())?;
        match (
            answered,
            body["refresh_token"].as_str(),
            body["error"].as_str(),
        ) {
            (200, Some(next), _) => Ok(Refreshed::Rotated(next.to_owned())),
            (400, _, Some("invalid_grant")) => Ok(Refreshed::Refused),
            _ => Err(format!("answered {answered}: {body}")),
        }
    }

    /// Whether `refresh_token` still redeems (it is then used up).
    ///
    /// # Errors
    /// As [`Cluster::refresh`].
    pub async fn refresh_redeems(&self, refresh_token: &str) -> Result<bool, String> {
        Ok(matches!(
            self.refresh(refresh_token).await?,
            Refreshed::Rotated(_)
        ))
    }
}

/// The JSON body of an answer with status `expected`.
async fn json(response: reqwest::Response, expected: u16) -> Result<Value, String> {
    let answered = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if answered == expected {
        Ok(body)
    } else {
        Err(format!("answered {answered}: {body}"))
    }
}

/// An answer with status `expected`.
async fn status(response: reqwest::Response, expected: u16) -> Result<(), String> {
    match response.status().as_u16() {
        answered if answered == expected => Ok(()),
        answered => Err(format!("answered {answered}")),
    }
}
