//! Browser sessions through the gateway (the backend-for-frontend pattern): a real auth server
//! (or a third-party provider), the echo upstream and a browser with a cookie jar. The browser signs in through the gateway,
//! holds only an opaque cookie, and its requests reach the upstream with an access token and the
//! identity; API calls without a session get 401, cross-site unsafe requests 403; the token is
//! refreshed before it expires (once, however many requests arrive); logout, back-channel logout
//! and revocations end the session.

mod ending;
mod providers;
mod sign_in;

use super::support::{echo_upstream, revoke, route};
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_gateway::config::{IssuerConfig, RevocationFeedConfig, SessionConfig};
use portcullis_gateway::{GatewayConfig, RunningGateway};
use portcullis_testkit::browser::{Browser, hidden_fields, location, query_param};
use portcullis_testkit::nginx::Nginx;
use portcullis_testkit::{TestAuthServer, TestOptions};
use portcullis_types::GrantType;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

const PASSWORD: &str = "correct horse battery";
const HTML: &str = "text/html,application/xhtml+xml";

/// An auth server, a gateway with a session route `/app` in front of the echo upstream (and,
/// in a cluster, a second gateway behind the same public URL).
struct SessionStack {
    auth: TestAuthServer,
    base: String,
    secret: String,
    subject: String,
    /// The second gateway of a cluster: its own address.
    second: Option<String>,
    _gateways: Vec<(oneshot::Sender<()>, RunningGateway)>,
}

/// A loopback port nothing listens on (the gateway's redirect URI is registered before it
/// starts).
fn free_port() -> u16 {
    portcullis_testkit::free_loopback_address().port()
}

/// The gateway's client `gw`: confidential, authorization code and refresh, tokens for `api`
/// living `access_secs`, its callback, logout page and back-channel logout on the gateway.
fn gateway_client(base: &str, access_secs: i64) -> ClientRegistration {
    ClientRegistration {
        id: "gw".into(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![format!("{base}/_portcullis/callback")],
        scopes: ["openid", "offline_access", "read"]
            .map(String::from)
            .to_vec(),
        audiences: vec!["api".into()],
        access_token_lifetime_secs: Some(access_secs),
        first_party: true,
        post_logout_redirect_uris: vec![format!("{base}/bye")],
        id_token_algorithm: None,
        keys: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: Some(format!("{base}/_portcullis/backchannel-logout")),
        require_mfa: false,
        require_pushed_authorization_requests: false,
        client_name: None,
        request_uris: Vec::new(),
        request_object_signing_alg: None,
    }
}

/// The gateway configuration of a session stack: `/app` (a session route for `read`) and
/// `/api` in front of `upstream`, signing in at `auth` as `gw` for a gateway at `base`.
fn session_config(
    auth: &TestAuthServer,
    base: &str,
    secret: &str,
    upstream: std::net::SocketAddr,
) -> GatewayConfig {
    GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        public_url: Some(base.to_owned()),
        issuers: vec![IssuerConfig::new(&auth.base_url, "api")],
        routes: vec![
            portcullis_gateway::config::RouteConfig {
                session: true,
                scopes_all: vec!["read".into()],
                ..route("app", "/app", upstream)
            },
            route("api", "/api", upstream),
        ],
        session: Some(SessionConfig {
            scopes: ["openid", "offline_access", "read"]
                .map(String::from)
                .to_vec(),
            refresh_before_expiry_secs: 2,
            post_logout_redirect_uri: Some(format!("{base}/bye")),
            ..SessionConfig::new(&auth.base_url, "gw", secret)
        }),
        ..GatewayConfig::default()
    }
}

/// `GET url` in `browser` as a page load (asking for HTML).
async fn page_load(browser: &Browser, url: &str) -> reqwest::Response {
    browser
        .client()
        .get(url)
        .header("accept", HTML)
        .send()
        .await
        .expect("page")
}

/// Starts a gateway of `config` listening on `listen`.
async fn start_gateway(
    config: &GatewayConfig,
    listen: &str,
) -> (oneshot::Sender<()>, RunningGateway) {
    let config = GatewayConfig {
        listen: listen.parse().expect("addr"),
        ..config.clone()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let gateway = portcullis_gateway::start(&config, async move {
        let _ = stopped.await;
    })
    .await
    .expect("gateway starts");
    (stop, gateway)
}

/// Starts the stack; with `feed`, the gateway follows the revocation feed (else only
/// back-channel logout tells it of ended sessions); with `redis`, two gateways share it.
async fn session_stack(
    access_secs: i64,
    feed: bool,
    redis: Option<portcullis_redis::RedisSettings>,
) -> SessionStack {
    let auth = TestAuthServer::start_with(TestOptions::default()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (_, secret) = auth.add_client(gateway_client(&base, access_secs)).await;
    let secret = secret.expect("secret");
    let (_, feed_secret) = auth
        .add_client(super::support::service_client(
            "feed",
            &["portcullis:revocations"],
        ))
        .await;
    let user = auth.add_user("ada", &["staff"], PASSWORD).await;
    let upstream = echo_upstream().await;
    let mut config = session_config(&auth, &base, &secret, upstream);
    if feed {
        config.issuers[0].revocation_feed = Some(RevocationFeedConfig {
            client_id: "feed".into(),
            client_secret: feed_secret.expect("secret"),
            poll_interval_ms: 200,
        });
    }
    config.redis = redis.clone();
    let cluster = redis.is_some();
    let mut gateways = vec![start_gateway(&config, &format!("127.0.0.1:{port}")).await];
    let mut second = None;
    if cluster {
        let (stop, gateway) = start_gateway(&config, "127.0.0.1:0").await;
        second = Some(format!("http://{}", gateway.address));
        gateways.push((stop, gateway));
    }
    SessionStack {
        auth,
        base,
        secret,
        subject: user.id,
        second,
        _gateways: gateways,
    }
}

impl SessionStack {
    /// Opens `path` in `browser` as a page, signing in at the auth server when sent there:
    /// the page the upstream echoed.
    async fn open_signed_in(&self, browser: &Browser, path: &str) -> Value {
        let first = self.page(browser, path).await;
        assert_eq!(first.status(), 303, "a browser without a session signs in");
        let authorize = location(&first, &self.base);
        assert!(authorize.starts_with(&self.auth.base_url), "{authorize}");
        for parameter in ["state", "nonce", "code_challenge"] {
            assert!(query_param(&authorize, parameter).is_some(), "{parameter}");
        }
        let (status, page) = browser
            .open_signed_in(&self.auth.base_url, &authorize, ("ada", PASSWORD))
            .await;
        assert_eq!(status, 200, "{page}");
        serde_json::from_str(&page).expect("the upstream's echo")
    }

    /// `GET path` as a page load.
    async fn page(&self, browser: &Browser, path: &str) -> reqwest::Response {
        page_load(browser, &format!("{}{path}", self.base)).await
    }

    /// `GET path` as a script's call.
    async fn call(&self, browser: &Browser, path: &str) -> reqwest::Response {
        self.call_at(&self.base, browser, path).await
    }

    /// `GET path` of the gateway at `base` as a script's call.
    async fn call_at(&self, base: &str, browser: &Browser, path: &str) -> reqwest::Response {
        browser
            .client()
            .get(format!("{base}{path}"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("call")
    }

    /// The access token the upstream received on a call of `browser`.
    async fn token_seen_upstream(&self, browser: &Browser) -> String {
        self.token_seen_through(&self.base, browser).await
    }

    /// The access token the upstream received on a call of `browser` through the gateway at
    /// `base`.
    async fn token_seen_through(&self, base: &str, browser: &Browser) -> String {
        let response = self.call_at(base, browser, "/app/whoami").await;
        assert_eq!(response.status(), 200);
        let echo: Value = response.json().await.expect("echo");
        echo["headers"]["authorization"]
            .as_str()
            .and_then(|value| value.strip_prefix("Bearer "))
            .expect("a bearer token upstream")
            .to_owned()
    }

    /// Polls until calls of `browser` are refused (its session ended), for at most 10 s.
    async fn wait_until_signed_out(&self, browser: &Browser) {
        self.wait_until_signed_out_at(&self.base, browser).await;
    }

    /// Polls until calls of `browser` through the gateway at `base` are refused, for at most
    /// 10 s.
    async fn wait_until_signed_out_at(&self, base: &str, browser: &Browser) {
        for _ in 0..100 {
            if self.call_at(base, browser, "/app/whoami").await.status() == 401 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway session did not end");
    }
}
