//! Browser sessions: the gateway as a backend for front ends (draft-ietf-oauth-browser-based-apps
//! §6.1). A browser without a token on a `session` route is sent to the OpenID provider with
//! Authorization Code + PKCE, `state` and `nonce` ([`portcullis_sdk::client`]); the gateway, a
//! confidential client, redeems the code and keeps the tokens (sealed, [`sealed`]) in its
//! [`GatewaySessionStore`] (in memory, [`memory`], or a cluster's Redis), and the browser holds
//! only an `HttpOnly` cookie. Each request of the session is forwarded with a fresh access
//! token, which then passes the route's policy like any other token.
//!
//! The gateway answers `/_portcullis/login`, `/_portcullis/callback`, `/_portcullis/logout`
//! and `/_portcullis/backchannel-logout` ([`endpoints`]); [`refresh`] keeps the token fresh.

mod browser_request;
mod endpoints;
pub mod memory;
mod refresh;
mod sealed;

use crate::config::SessionConfig;
use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::rate_limit::{RateLimitKey, RateLimitRule};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
pub use browser_request::is_navigation;
use browser_request::{TrustedOrigins, is_unsafe};
use portcullis_core::cookies::{SameSite, read_cookie, set_cookie, without_cookies};
use portcullis_jose::{base64url, random_bytes};
use portcullis_sdk::client::{ClientConfig, RelyingParty};
use portcullis_service::ports::{GatewaySessionStore, PendingLogin, StoreLimits};
use portcullis_service::{ProofReplay, StoreError};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Base name of the session cookie (`__Host-portcullis_gw` over https).
pub const SESSION_COOKIE: &str = "portcullis_gw";
/// Base name of the cookie binding a sign-in's callback to the browser that started it.
pub const BROWSER_COOKIE: &str = "portcullis_gw_login";
/// Where the gateway's own endpoints live.
pub const ENDPOINT_PREFIX: &str = "/_portcullis/";
/// A sign-in waits this long for its callback.
const PENDING_TIMEOUT_SECS: i64 = 600;
/// The access token's lifetime when the provider does not say (it is refreshed sooner).
const UNSTATED_LIFETIME_SECS: i64 = 60;
/// Sign-ins a client address may start per minute: each keeps a pending sign-in for ten
/// minutes, so a flood from one address cannot push everyone else's out of `max_pending`.
const SIGN_INS_PER_MINUTE: u32 = 30;

/// One of the gateway's own endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Starts a sign-in (`?rd=/path` to come back to).
    Login,
    /// The provider's redirect back.
    Callback,
    /// Ends the session here and at the provider.
    Logout,
    /// The provider's back-channel logout (OpenID Connect Back-Channel Logout 1.0).
    BackchannelLogout,
}

impl Endpoint {
    /// The endpoint at `path`, if any.
    pub fn at(path: &str) -> Option<Self> {
        match path.strip_prefix(ENDPOINT_PREFIX)? {
            "login" => Some(Endpoint::Login),
            "callback" => Some(Endpoint::Callback),
            "logout" => Some(Endpoint::Logout),
            "backchannel-logout" => Some(Endpoint::BackchannelLogout),
            _ => None,
        }
    }
}

/// What a request's session cookie amounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// No session cookie.
    Nothing,
    /// A cookie of no (longer) usable session: the browser should forget it.
    Stale,
    /// The session's access token is in `Authorization`.
    Session {
        /// The session's key.
        key: String,
        /// When the user signed in.
        created_at: i64,
    },
}

/// The browser sessions of a gateway.
pub struct Sessions {
    issuer: String,
    client: ClientConfig,
    http: reqwest::Client,
    party: OnceCell<Arc<RelyingParty>>,
    store: Arc<dyn GatewaySessionStore>,
    replay: Arc<dyn ProofReplay>,
    public_origin: String,
    secure: bool,
    scope: String,
    refresh_before_expiry_secs: i64,
    absolute_timeout_secs: i64,
    post_logout_redirect_uri: Option<String>,
    allowed_origins: Vec<String>,
    refreshing: refresh::KeyedLocks,
    cookie_names: [String; 2],
    metrics: Arc<Metrics>,
    sign_ins: RateLimitRule,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Sessions")
            .field("issuer", &self.issuer)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// The store limits of `config`.
pub fn store_limits(config: &SessionConfig) -> StoreLimits {
    StoreLimits {
        idle_timeout_secs: config.idle_timeout_secs,
        absolute_timeout_secs: config.absolute_timeout_secs,
        pending_timeout_secs: PENDING_TIMEOUT_SECS,
        max_sessions: config.max_sessions,
        sessions_per_user: config.sessions_per_user,
        max_pending: config.max_pending,
    }
}

/// The SHA-256 digest of a secret the browser holds: what the store is keyed by.
fn digest(secret: &str) -> String {
    portcullis_core::secret::storage_digest(secret)
}

/// When an access token issued at `now` expires: its `expires_in`, else
/// [`UNSTATED_LIFETIME_SECS`] (refreshed sooner rather than forwarded expired).
fn access_expires_at(now: i64, expires_in: Option<u64>) -> i64 {
    let lifetime = expires_in
        .and_then(|secs| i64::try_from(secs).ok())
        .unwrap_or(UNSTATED_LIFETIME_SECS);
    now.saturating_add(lifetime)
}

/// A new 256-bit secret.
fn secret() -> Result<String, GatewayError> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes).map_err(|_| GatewayError::SessionsUnavailable)?;
    Ok(base64url::encode(bytes))
}

fn unavailable(error: StoreError) -> GatewayError {
    tracing::warn!(%error, "browser sessions unavailable");
    GatewayError::SessionsUnavailable
}

impl Sessions {
    /// Sessions of `config` for a gateway at `public_origin` (checked by the caller to be an
    /// origin), held in `store`, with logout tokens remembered in `replay`.
    ///
    /// # Errors
    /// A description of what is wrong with the configuration.
    pub fn new(
        config: &SessionConfig,
        public_origin: &str,
        http: reqwest::Client,
        store: Arc<dyn GatewaySessionStore>,
        replay: Arc<dyn ProofReplay>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        if !config.scopes.iter().any(|scope| scope == "openid") {
            return Err("scopes must include openid (the gateway signs users in)".into());
        }
        if config.idle_timeout_secs < 1
            || config.absolute_timeout_secs < 1
            || config.refresh_before_expiry_secs < 0
            || config.max_sessions == 0
            || config.sessions_per_user == 0
            || config.max_pending == 0
        {
            return Err("timeouts and limits must be positive".into());
        }
        let secure = public_origin.starts_with("https://");
        let loopback = reqwest::Url::parse(public_origin)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .is_some_and(|host| portcullis_core::network_address::is_loopback_host(&host));
        // Session cookies over plain http only on this machine (a development stack).
        if !secure && !loopback {
            return Err("public_url must be https (http only on a loopback address)".into());
        }
        // Origins whose requests may use a session: each a real origin, never `null` or a pattern.
        let allowed_origins = config
            .allowed_origins
            .iter()
            .map(|allowed| {
                crate::request_target::origin(allowed).ok_or_else(|| {
                    format!(
                        "allowed_origins: `{allowed}` is not an origin such as https://app.example.com"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sign_ins = RateLimitRule::new(
            SIGN_INS_PER_MINUTE,
            60,
            SIGN_INS_PER_MINUTE,
            RateLimitKey::ClientIp,
        )
        .ok_or("the sign-in limit is not a rate")?;
        Ok(Sessions {
            sign_ins,
            issuer: config.issuer.clone(),
            client: ClientConfig {
                client_id: config.client_id.clone(),
                client_secret: Some(config.client_secret.clone()),
                redirect_uri: format!("{public_origin}{ENDPOINT_PREFIX}callback"),
            },
            http,
            party: OnceCell::new(),
            store,
            replay,
            public_origin: public_origin.to_owned(),
            secure,
            scope: config.scopes.join(" "),
            refresh_before_expiry_secs: config.refresh_before_expiry_secs,
            absolute_timeout_secs: config.absolute_timeout_secs,
            post_logout_redirect_uri: config.post_logout_redirect_uri.clone(),
            allowed_origins,
            refreshing: refresh::KeyedLocks::default(),
            metrics,
            cookie_names: [
                portcullis_core::cookies::cookie_name(SESSION_COOKIE, secure),
                portcullis_core::cookies::cookie_name(BROWSER_COOKIE, secure),
            ],
        })
    }

    /// The limit on sign-ins a client address starts, and its key for `client`.
    pub fn sign_in_limit(&self, client: std::net::IpAddr) -> (&RateLimitRule, String) {
        (&self.sign_ins, format!("_portcullis_sign_in|ip:{client}"))
    }

    /// Forgets sessions and sign-ins that can no longer be used at `now` (housekeeping).
    pub async fn purge(&self, now: i64) {
        self.store.purge(now).await;
    }

    /// The provider, discovered on first use (and tried again after a failure).
    async fn party(&self) -> Result<&Arc<RelyingParty>, GatewayError> {
        self.party
            .get_or_try_init(|| async {
                RelyingParty::discover_with(&self.issuer, self.client.clone(), self.http.clone())
                    .await
                    .map(Arc::new)
            })
            .await
            .map_err(|error| {
                tracing::warn!(issuer = %self.issuer, %error, "the sign-in provider cannot be used");
                GatewayError::SessionsUnavailable
            })
    }

    fn cookie(&self, headers: &HeaderMap, base: &str) -> Option<String> {
        read_cookie(
            headers
                .get_all(header::COOKIE)
                .iter()
                .map(HeaderValue::as_bytes),
            base,
            self.secure,
        )
    }

    fn set_cookie(&self, base: &str, value: String, max_age_secs: i64) -> HeaderValue {
        HeaderValue::from_str(&set_cookie(
            base,
            value,
            SameSite::Lax,
            max_age_secs,
            self.secure,
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// `Set-Cookie` that makes the browser forget its session cookie.
    pub fn forget_session_cookie(&self) -> HeaderValue {
        self.set_cookie(SESSION_COOKIE, String::new(), 0)
    }

    /// Removes the gateway's own cookies from a request before it goes upstream: a service
    /// never sees them.
    pub fn strip_cookies(&self, headers: &mut HeaderMap) {
        if !headers.contains_key(header::COOKIE) {
            return;
        }
        let kept: Vec<HeaderValue> = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| without_cookies(value.as_bytes(), &self.cookie_names))
            .filter_map(|kept| HeaderValue::from_bytes(&kept).ok())
            .collect();
        headers.remove(header::COOKIE);
        for value in kept {
            headers.append(header::COOKIE, value);
        }
    }

    fn origins(&self) -> TrustedOrigins<'_> {
        TrustedOrigins {
            own: &self.public_origin,
            allowed: &self.allowed_origins,
        }
    }

    /// Puts the access token of the request's session into its `Authorization` header,
    /// refreshed first when it is about to expire.
    ///
    /// # Errors
    /// [`GatewayError::CrossSite`] for a session used unsafely by another site;
    /// [`GatewayError::SessionsUnavailable`] when the store or provider cannot be used.
    pub async fn attach(
        self: &Arc<Self>,
        method: &Method,
        headers: &mut HeaderMap,
        now: i64,
    ) -> Result<Attached, GatewayError> {
        let Some(cookie) = self.cookie(headers, SESSION_COOKIE) else {
            return Ok(Attached::Nothing);
        };
        // CSRF: a cross-site form or script request carries the cookie too (SameSite=Lax lets
        // top-level POSTs of other sites through in some browsers), so unsafe ones need proof.
        if is_unsafe(method, headers) && !self.origins().allows_unsafe_use(headers) {
            return Err(GatewayError::CrossSite);
        }
        let key = digest(&cookie);
        let Some(session) = self.store.touch(&key, now).await.map_err(unavailable)? else {
            return Ok(Attached::Stale);
        };
        let created_at = session.created_at;
        let Some(access_token) = self.fresh_access_token(&cookie, session, now).await? else {
            return Ok(Attached::Stale);
        };
        let value = HeaderValue::from_str(&format!("Bearer {access_token}"))
            .map_err(|_| GatewayError::SessionsUnavailable)?;
        headers.insert(header::AUTHORIZATION, value);
        Ok(Attached::Session { key, created_at })
    }

    /// Ends the session of `key` because its access token was refused (revoked, expired).
    ///
    /// # Errors
    /// [`GatewayError::SessionsUnavailable`].
    pub async fn end_refused(&self, key: &str) -> Result<(), GatewayError> {
        self.metrics.session_event("token_refused");
        self.end(key).await
    }

    /// Ends the session of `key`.
    ///
    /// # Errors
    /// [`GatewayError::SessionsUnavailable`].
    async fn end(&self, key: &str) -> Result<(), GatewayError> {
        self.store.remove(key).await.map_err(unavailable)?;
        Ok(())
    }

    /// Where a browser starts signing in to come back to `return_to` (a path): the gateway's
    /// login endpoint, for a proxy in front to redirect to.
    pub fn login_location(&self, return_to: &str) -> String {
        let return_to: String =
            form_urlencoded::byte_serialize(local_path(return_to).as_bytes()).collect();
        format!(
            "{}{ENDPOINT_PREFIX}login?rd={return_to}",
            self.public_origin
        )
    }

    /// Sends the browser to the provider to sign in, then back to `return_to` (a path of
    /// this gateway).
    ///
    /// # Errors
    /// [`GatewayError::SessionsUnavailable`].
    pub async fn login_redirect(
        &self,
        headers: &HeaderMap,
        return_to: &str,
        now: i64,
    ) -> Result<Response, GatewayError> {
        let party = self.party().await?;
        let (authorization, url) = party
            .start(&self.scope, &[])
            .map_err(|_| GatewayError::SessionsUnavailable)?;
        // One binding per browser, kept across its sign-ins (several tabs may sign in at once).
        let browser = match self.cookie(headers, BROWSER_COOKIE) {
            Some(value) if value.len() == 43 => value,
            _ => secret()?,
        };
        let state_key = digest(&authorization.state);
        self.store
            .begin(
                state_key,
                PendingLogin {
                    state: authorization.state,
                    nonce: authorization.nonce,
                    code_verifier: authorization.code_verifier,
                    browser: digest(&browser),
                    return_to: local_path(return_to).to_owned(),
                    created_at: now,
                },
            )
            .await
            .map_err(unavailable)?;
        let mut response = redirect(&url);
        response.headers_mut().append(
            header::SET_COOKIE,
            self.set_cookie(BROWSER_COOKIE, browser, PENDING_TIMEOUT_SECS),
        );
        Ok(response)
    }
}

/// `return_to` if it is a path of this origin, else `/`: never `//host` or `/\host`, which
/// browsers read as another site (an open redirect).
fn local_path(return_to: &str) -> &str {
    let local = return_to.starts_with('/')
        && !return_to.starts_with("//")
        && !return_to.starts_with("/\\")
        && !return_to.chars().any(|c| c.is_control() || c == '\\');
    if local { return_to } else { "/" }
}

/// A `303 See Other` to `location`, never cached.
fn redirect(location: &str) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        for (asked, kept) in [
            ("/app/page?x=1", "/app/page?x=1"),
            ("//evil.example/x", "/"),
            ("/\\evil.example", "/"),
            ("https://evil.example/", "/"),
            ("/a\\b", "/"),
            ("/a\nb", "/"),
            ("", "/"),
        ] {
            assert_eq!(local_path(asked), kept, "{asked:?}");
        }
        assert_eq!(
            Endpoint::at("/_portcullis/callback"),
            Some(Endpoint::Callback)
        );
        assert_eq!(Endpoint::at("/_portcullis/auth"), None);
        assert_eq!(Endpoint::at("/app/_portcullis/login"), None);
    }

    #[test]
    fn doubtful_settings_are_refused() {
        let refused = |config: SessionConfig, public_origin: &str| {
            Sessions::new(
                &config,
                public_origin,
                reqwest::Client::new(),
                Arc::new(memory::MemorySessionStore::new(store_limits(&config))),
                Arc::new(portcullis_core::replay::ReplayWindow::new(10)),
                Arc::new(Metrics::default()),
            )
            .is_err()
        };
        let base = || SessionConfig::new("https://op.example", "gw", "secret");
        assert!(!refused(base(), "https://gw.example"));
        assert!(
            !refused(base(), "http://127.0.0.1:4000"),
            "plain http on loopback"
        );
        assert!(refused(base(), "http://gw.example"), "plain http elsewhere");
        for allowed in [
            "null",
            "",
            "https://*.example.com",
            "https://app.example/path",
        ] {
            let config = SessionConfig {
                allowed_origins: vec![allowed.into()],
                ..base()
            };
            assert!(refused(config, "https://gw.example"), "{allowed:?}");
        }
        let without_openid = SessionConfig {
            scopes: vec!["read".into()],
            ..base()
        };
        assert!(refused(without_openid, "https://gw.example"));
    }
}
