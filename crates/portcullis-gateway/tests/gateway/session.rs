//! Browser sessions through the gateway (the backend-for-frontend pattern): a real auth server,
//! the echo upstream and a browser with a cookie jar. The browser signs in through the gateway,
//! holds only an opaque cookie, and its requests reach the upstream with an access token and the
//! identity; API calls without a session get 401, cross-site unsafe requests 403; the token is
//! refreshed before it expires (once, however many requests arrive); logout, back-channel logout
//! and revocations end the session.

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
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
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
        browser
            .client()
            .get(format!("{}{path}", self.base))
            .header("accept", HTML)
            .send()
            .await
            .expect("page")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_through_the_gateway_and_only_the_upstream_sees_tokens() {
    let stack = session_stack(300, true, None).await;
    let browser = Browser::new();
    let echo = stack.open_signed_in(&browser, "/app/page?x=1").await;
    assert_eq!(echo["path"], "/app/page", "back where the browser started");
    assert_eq!(echo["query"], "x=1");
    let headers = &echo["headers"];
    assert_eq!(headers["x-portcullis-subject"], stack.subject.as_str());
    assert_eq!(headers["x-portcullis-client"], "gw");
    assert!(
        headers["authorization"]
            .as_str()
            .is_some_and(|value| value.starts_with("Bearer ey")),
        "the upstream gets the access token: {headers}"
    );
    // The auth server's cookies are the browser's for this host too (cookies ignore ports):
    // they reach the upstream as any other cookie would; the gateway's own never do.
    let forwarded = headers["cookie"].as_str().unwrap_or_default();
    assert!(
        forwarded.contains("portcullis_session=") && !forwarded.contains("portcullis_gw"),
        "{forwarded}"
    );
    // A script's call with the session passes too.
    let response = stack.call(&browser, "/app/data").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("set-cookie"), None);

    // Without a session: a page load signs in, a script's call gets 401 with the challenge.
    let stranger = Browser::new();
    let refused = stack.call(&stranger, "/app/data").await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    let xhr = stranger
        .client()
        .get(format!("{}/app/data", stack.base))
        .header("accept", HTML)
        .header("x-requested-with", "XMLHttpRequest")
        .send()
        .await
        .expect("xhr");
    assert_eq!(xhr.status(), 401, "XHR is never redirected");
    // A route without session mode ignores the cookie.
    assert_eq!(stack.call(&browser, "/api/data").await.status(), 401);

    // CSRF: unsafe requests with the session need this site's Origin or Sec-Fetch-Site.
    let post = |origin: Option<&'static str>, site: Option<&'static str>| {
        let mut request = browser
            .client()
            .post(format!("{}/app/orders", stack.base))
            .header("accept", "application/json")
            .body("{}");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    let base: &'static str = stack.base.clone().leak();
    assert_eq!(post(Some(base), None).await.expect("post").status(), 200);
    assert_eq!(
        post(None, Some("same-origin"))
            .await
            .expect("post")
            .status(),
        200
    );
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (None, None),
    ] {
        let response = post(origin, site).await.expect("post");
        assert_eq!(response.status(), 403, "{origin:?} {site:?}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "access_denied");
    }

    // Logout: the session ends here, the browser goes to the provider's logout with its id
    // token, and from there back to the registered page.
    let logout_url = format!("{}/_portcullis/logout", stack.base);
    let from_another_page = browser
        .client()
        .get(&logout_url)
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .expect("logout");
    assert_eq!(from_another_page.status(), 403, "logout CSRF");
    let logout = browser
        .client()
        .get(&logout_url)
        .header("sec-fetch-site", "none")
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 303);
    let cleared = logout.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cleared.contains("portcullis_gw=") && cleared.contains("Max-Age=0"));
    let end_session = location(&logout, &stack.base);
    assert!(end_session.starts_with(&stack.auth.url("/logout")));
    assert!(query_param(&end_session, "id_token_hint").is_some());
    let confirm = browser.get(&end_session).await;
    assert_eq!(confirm.status(), 200);
    let fields = hidden_fields(&confirm.text().await.expect("confirmation"));
    let done = browser.post(&stack.auth.url("/logout"), &fields).await;
    assert_eq!(
        location(&done, &stack.auth.base_url),
        format!("{}/bye", stack.base)
    );
    assert_eq!(stack.call(&browser, "/app/data").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_must_belong_to_a_sign_in_this_browser_started() {
    let stack = session_stack(300, true, None).await;
    let forged = Browser::new()
        .get(&format!(
            "{}/_portcullis/callback?code=abc&state=unknown",
            stack.base
        ))
        .await;
    assert_eq!(forged.status(), 400);

    // Login CSRF: an attacker starts a sign-in, signs in as themselves and hands the callback
    // to the victim's browser, which never started it.
    let attacker = Browser::new();
    let start = stack.page(&attacker, "/app/").await;
    let authorize = location(&start, &stack.base);
    let mut response = attacker.get(&authorize).await;
    let mut callback = None;
    for _ in 0..10 {
        if response.status() == 303 {
            let next = location(&response, &stack.auth.base_url);
            if next.starts_with(&format!("{}/_portcullis/callback", stack.base)) {
                callback = Some(next);
                break;
            }
            response = attacker.get(&next).await;
            continue;
        }
        let mut fields = hidden_fields(&response.text().await.expect("page"));
        fields.push(("username".into(), "ada".into()));
        fields.push(("password".into(), PASSWORD.into()));
        response = attacker.post(&stack.auth.url("/signin"), &fields).await;
    }
    let callback = callback.expect("the provider's redirect back");
    let victim = Browser::new();
    let planted = victim.get(&callback).await;
    assert_eq!(planted.status(), 400, "another browser's callback");
    assert!(planted.headers().get("set-cookie").is_none());
    // The state was used up by the refusal: the attacker cannot complete it either.
    assert_eq!(attacker.get(&callback).await.status(), 400);
    assert_eq!(stack.call(&victim, "/app/data").await.status(), 401);

    // Two tabs of one browser sign in at once: each callback belongs to it.
    let tabs = Browser::new();
    let first = location(&stack.page(&tabs, "/app/one").await, &stack.base);
    let second = location(&stack.page(&tabs, "/app/two").await, &stack.base);
    for (authorize, path) in [(second, "/app/two"), (first, "/app/one")] {
        let (status, page) = tabs
            .open_signed_in(&stack.auth.base_url, &authorize, ("ada", PASSWORD))
            .await;
        assert_eq!(status, 200, "{page}");
        let echo: Value = serde_json::from_str(&page).expect("echo");
        assert_eq!(echo["path"], path);
    }

    // One address starts at most 30 sign-ins a minute (each is kept ten minutes).
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(stack.page(&Browser::new(), "/app/").await.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let login = Browser::new()
        .get(&format!("{}/_portcullis/login?rd=/app/", stack.base))
        .await;
    assert_eq!(login.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_the_route_cannot_accept_are_an_error_not_a_sign_in_loop() {
    let auth = TestAuthServer::start_with(TestOptions::default()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The client's tokens are for another audience than the gateway's issuer requires.
    let client = ClientRegistration {
        audiences: vec!["elsewhere".into()],
        ..gateway_client(&base, 300)
    };
    let (_, secret) = auth.add_client(client).await;
    auth.add_user("ada", &[], PASSWORD).await;
    let upstream = echo_upstream().await;
    let config = session_config(&auth, &base, &secret.expect("secret"), upstream);
    let (_stop, _gateway) = start_gateway(&config, &format!("127.0.0.1:{port}")).await;
    let browser = Browser::new();
    let start = browser
        .client()
        .get(format!("{base}/app/"))
        .header("accept", HTML)
        .send()
        .await
        .expect("page");
    let authorize = location(&start, &base);
    let (status, page) = browser
        .open_signed_in(&auth.base_url, &authorize, ("ada", PASSWORD))
        .await;
    assert_eq!(
        status, 401,
        "refused once, not sent to sign in again: {page}"
    );
    assert!(page.contains("invalid_token"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_is_refreshed_once_before_it_expires() {
    // Tokens live 4 s and are refreshed 2 s before they expire.
    let stack = session_stack(4, true, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    let first = stack.token_seen_upstream(&browser).await;
    assert_eq!(
        stack.token_seen_upstream(&browser).await,
        first,
        "not yet due"
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // Many requests at once: one refresh (a second would reuse the rotated refresh token,
    // which the provider takes for theft and answers by ending the grant).
    let calls: Vec<_> = (0..8)
        .map(|_| stack.token_seen_upstream(&browser))
        .collect();
    let seen = futures_util::future::join_all(calls).await;
    assert!(seen.iter().all(|token| *token == seen[0]), "one new token");
    assert_ne!(seen[0], first, "refreshed");
    // And again, with the rotated refresh token.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let third = stack.token_seen_upstream(&browser).await;
    assert_ne!(third, seen[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_ends_the_gateway_session() {
    // No revocation feed: only the logout token can tell the gateway.
    let stack = session_stack(300, false, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    assert_eq!(stack.call(&browser, "/app/data").await.status(), 200);
    // The user signs out at the provider itself (the same browser, its session there).
    let confirm = browser.get(&stack.auth.url("/logout")).await;
    assert_eq!(confirm.status(), 200);
    let fields = hidden_fields(&confirm.text().await.expect("confirmation"));
    browser.post(&stack.auth.url("/logout"), &fields).await;
    stack.wait_until_signed_out(&browser).await;

    // What is not a logout token of the provider is refused as the specification says.
    let endpoint = format!("{}/_portcullis/backchannel-logout", stack.base);
    let http = reqwest::Client::new();
    for form in [vec![], vec![("logout_token", "not-a-jwt")]] {
        let response = http.post(&endpoint).form(&form).send().await.expect("post");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_the_session() {
    let stack = session_stack(300, true, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    let token = stack.token_seen_upstream(&browser).await;
    revoke(&stack.auth, "gw", &stack.secret, &token).await;
    stack.wait_until_signed_out(&browser).await;
    // The session is gone, not just refused once: a page load signs in again.
    let again = stack.page(&browser, "/app/").await;
    assert_eq!(again.status(), 303);
    let set = again
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().expect("ascii").to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(set.contains("portcullis_gw_login="), "{set}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_gateways_shares_sessions_over_redis() {
    let Some(redis) = portcullis_testkit::services::TestRedis::create() else {
        return;
    };
    // Tokens live 4 s and are refreshed 2 s before they expire; no feed, so only Redis tells
    // the second gateway of what the first learned.
    let stack = session_stack(4, false, Some(redis.settings())).await;
    let second = stack.second.clone().expect("a second gateway");
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    // Signed in through the first, served by the second.
    let first = stack.token_seen_upstream(&browser).await;
    assert_eq!(stack.token_seen_through(&second, &browser).await, first);
    let response = stack.call_at(&second, &browser, "/app/whoami").await;
    let echo: Value = response.json().await.expect("echo");
    assert_eq!(
        echo["headers"]["x-portcullis-subject"],
        stack.subject.as_str()
    );

    // Due for a refresh, both gateways at once: one refresh in the cluster, one new token.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let calls: Vec<_> = (0..8)
        .map(|index| {
            let base = if index % 2 == 0 { &stack.base } else { &second };
            stack.token_seen_through(base, &browser)
        })
        .collect();
    let seen = futures_util::future::join_all(calls).await;
    assert!(seen.iter().all(|token| *token == seen[0]), "one new token");
    assert_ne!(seen[0], first);

    // Back-channel logout reaches the first gateway; the second ends the session too.
    let confirm = browser.get(&stack.auth.url("/logout")).await;
    let fields = hidden_fields(&confirm.text().await.expect("confirmation"));
    browser.post(&stack.auth.url("/logout"), &fields).await;
    stack.wait_until_signed_out_at(&second, &browser).await;
    drop(redis);
}

/// nginx's `auth_request` in front of a decide-only session route, as in `docs/forward-auth.md`:
/// a page load without a session is sent (401 + `Location`, turned into a 302 by the recipe)
/// to the gateway's login endpoint, which nginx routes to the public listener.
fn nginx_session_site(
    forward_auth: SocketAddr,
    gateway: SocketAddr,
    upstream: SocketAddr,
) -> String {
    format!(
        r#"
    location / {{
      auth_request /_portcullis_auth;
      auth_request_set $portcullis_authorization $upstream_http_authorization;
      auth_request_set $portcullis_subject $upstream_http_x_portcullis_subject;
      auth_request_set $portcullis_login $upstream_http_location;
      error_page 401 = @portcullis_login;
      proxy_set_header Authorization $portcullis_authorization;
      proxy_set_header X-Portcullis-Subject $portcullis_subject;
      proxy_pass http://{upstream};
    }}
    location /_portcullis/ {{
      proxy_pass http://{gateway};
      proxy_set_header Host $http_host;
    }}
    location = /_portcullis_auth {{
      internal;
      proxy_pass http://{forward_auth}/_portcullis/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Host $host;
    }}
    location @portcullis_login {{
      if ($portcullis_login = "") {{ return 401; }}
      return 302 $portcullis_login;
    }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_auth_request_a_browser_signs_in_and_the_upstream_gets_the_token() {
    let auth = TestAuthServer::start_with(TestOptions::default()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (_, secret) = auth.add_client(gateway_client(&base, 300)).await;
    let user = auth.add_user("ada", &[], PASSWORD).await;
    let upstream = echo_upstream().await;
    let mut config = session_config(&auth, &base, &secret.expect("secret"), upstream);
    config.forward_auth_listen = Some("127.0.0.1:0".parse().expect("addr"));
    // Decided here, forwarded by nginx.
    config.routes[0].upstreams = Vec::new();
    let (_stop, gateway) = start_gateway(&config, "127.0.0.1:0").await;
    let forward_auth = gateway.forward_auth_address.expect("forward-auth listener");
    // Asked directly: Traefik, Caddy and Envoy pass a 302 to the browser; nginx's recipe needs
    // a 401 with the location.
    let ask = |description: [(&'static str, &'static str); 2]| {
        let mut request = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(format!("http://{forward_auth}/_portcullis/auth"))
            .header("accept", HTML)
            .header("x-forwarded-host", "127.0.0.1");
        for (name, value) in description {
            request = request.header(name, value);
        }
        request.send()
    };
    let expected = format!("{base}/_portcullis/login?rd=%2Fapp%2Fx");
    for (description, status) in [
        (
            [("x-forwarded-uri", "/app/x"), ("x-forwarded-method", "GET")],
            302,
        ),
        (
            [("x-original-uri", "/app/x"), ("x-original-method", "GET")],
            401,
        ),
    ] {
        let answer = ask(description).await.expect("forward-auth");
        assert_eq!(answer.status(), status, "{description:?}");
        assert_eq!(answer.headers()["location"], expected.as_str());
    }
    let site = nginx_session_site(forward_auth, gateway.address, upstream);
    let Some(_nginx) =
        Nginx::start_at(format!("127.0.0.1:{port}").parse().expect("addr"), &site).await
    else {
        return;
    };
    let browser = Browser::new();
    let page = browser
        .client()
        .get(format!("{base}/app/page?x=1"))
        .header("accept", HTML)
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 302, "nginx sends the browser to sign in");
    let login = page.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        login,
        format!("{base}/_portcullis/login?rd=%2Fapp%2Fpage%3Fx%3D1")
    );
    let start = browser.get(&login).await;
    let authorize = location(&start, &base);
    assert!(authorize.starts_with(&auth.base_url));
    let (status, page) = browser
        .open_signed_in(&auth.base_url, &authorize, ("ada", PASSWORD))
        .await;
    assert_eq!(status, 200, "{page}");
    let echo: Value = serde_json::from_str(&page).expect("the upstream's echo");
    assert_eq!(echo["path"], "/app/page");
    assert_eq!(echo["headers"]["x-portcullis-subject"], user.id.as_str());
    assert!(
        echo["headers"]["authorization"]
            .as_str()
            .is_some_and(|value| value.starts_with("Bearer ey")),
        "nginx hands the session's token upstream: {echo}"
    );
    // A script without a session is refused, not redirected.
    let call = Browser::new()
        .client()
        .get(format!("{base}/app/data"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("call");
    assert_eq!(call.status(), 401);
}

/// The form of `html` (its `action` and hidden fields), as a browser would submit it.
fn first_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = &html[html.find("<form")?..];
    let action = form
        .split("action=\"")
        .nth(1)?
        .split('"')
        .next()?
        .to_owned();
    Some((action, hidden_fields(form)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_openid_provider_signs_browsers_in_here_a_third_party_one_with_opaque_tokens() {
    use portcullis_gateway::config::IntrospectionConfig;
    use portcullis_testkit::oidc_provider::{TestOidcProvider, sign_in_client};
    const SECRET: &str = "gateway-session-secret";
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = sign_in_client(
        "gw",
        SECRET,
        &format!("{base}/_portcullis/callback"),
        "read",
    );
    let Some(provider) =
        TestOidcProvider::start_with_sign_in(vec![client], "api", "read", 300).await
    else {
        return;
    };
    let upstream = echo_upstream().await;
    let config = GatewayConfig {
        listen: format!("127.0.0.1:{port}").parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        public_url: Some(base.clone()),
        issuers: vec![IssuerConfig {
            // Its access tokens are opaque: asked about by introspection (RFC 7662).
            jwt: false,
            introspection: Some(IntrospectionConfig {
                url: provider.url("/token/introspection"),
                client_id: "gw".into(),
                client_secret: SECRET.into(),
                token_prefix: None,
                cache_secs: 30,
                negative_cache_secs: 5,
            }),
            ..IssuerConfig::new(&provider.issuer, "api")
        }],
        routes: vec![portcullis_gateway::config::RouteConfig {
            session: true,
            ..route("app", "/app", upstream)
        }],
        session: Some(SessionConfig {
            scopes: ["openid", "read"].map(String::from).to_vec(),
            ..SessionConfig::new(&provider.issuer, "gw", SECRET)
        }),
        ..GatewayConfig::default()
    };
    let (_stop, _gateway) = start_gateway(&config, &format!("127.0.0.1:{port}")).await;

    // A browser follows the redirects and fills in the provider's own pages.
    let browser = Browser::new();
    let mut response = browser
        .client()
        .get(format!("{base}/app/page"))
        .header("accept", HTML)
        .send()
        .await
        .expect("page");
    let mut url = format!("{base}/app/page");
    let mut echo = None;
    for _ in 0..12 {
        if response.status().is_redirection() {
            let next = response.headers()["location"].to_str().expect("ascii");
            url = reqwest::Url::parse(&url)
                .and_then(|current| current.join(next))
                .expect("location")
                .to_string();
            response = browser.get(&url).await;
            continue;
        }
        let page = response.text().await.expect("page");
        if url.starts_with(&base) {
            echo = Some(page);
            break;
        }
        let (action, mut fields) = first_form(&page).unwrap_or_else(|| panic!("no form: {page}"));
        if page.contains("name=\"login\"") {
            fields.push(("login".into(), "ada".into()));
            fields.push(("password".into(), "anything".into()));
        }
        url = reqwest::Url::parse(&url)
            .and_then(|current| current.join(&action))
            .expect("action")
            .to_string();
        response = browser.post(&url, &fields).await;
    }
    let echo: Value = serde_json::from_str(&echo.expect("back at the page")).expect("echo");
    assert_eq!(echo["path"], "/app/page");
    let headers = &echo["headers"];
    assert_eq!(headers["x-portcullis-subject"], "ada");
    assert_eq!(headers["x-portcullis-issuer"], provider.issuer.as_str());
    let token = headers["authorization"].as_str().expect("a bearer token");
    assert!(
        token.starts_with("Bearer ") && !token.starts_with("Bearer ey"),
        "the provider's opaque access token: {token}"
    );
}
