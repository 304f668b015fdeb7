//! Attacks on sign-in: concurrent guessing past the lock, locking others out through a shared
//! address, addresses behind a proxy, and login CSRF on `POST /login`.

use super::browser::PASSWORD;
use super::support::{http, web_client};
use portcullis_core::TrustedProxies;
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::{Value, json};

/// A server with `POST /login` for the first-party client `web`.
async fn direct_login_server(options: TestOptions) -> TestAuthServer {
    let server = TestAuthServer::start_with(TestOptions {
        direct_login_client: Some("web".into()),
        ..options
    })
    .await;
    server.add_client(web_client()).await;
    server
}

async fn login(
    server: &TestAuthServer,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = http()
        .post(server.url("/login"))
        .json(&json!({"username": username, "password": password}));
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    request.send().await.expect("login")
}

/// The client addresses of the stored sign-in audit events, oldest first.
async fn audited_addresses(server: &TestAuthServer) -> Vec<String> {
    server.state.audit.flush().await;
    let mut addresses: Vec<String> = server
        .state
        .store
        .search_audit(&portcullis_service::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("audit")
        .iter()
        .filter(|record| record.kind == "sign_in")
        .filter_map(|record| {
            let detail: Value = serde_json::from_str(&record.detail).ok()?;
            detail["remote_addr"].as_str().map(str::to_owned)
        })
        .collect();
    addresses.reverse();
    addresses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_slip_past_the_lock() {
    let server = direct_login_server(TestOptions::default()).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let before = server.state.credentials.password_verifications();
    let guesses = (0..60).map(|n| {
        let server = &server;
        async move {
            login(server, "alice", &format!("guess {n}"), None)
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = server.state.credentials.password_verifications() - before;
    // The fast test policy locks an account after 4 failures: each attempt is reserved before
    // its password is checked, so no more than 4 of the 60 are ever checked.
    assert!(checked <= 4, "{checked} passwords checked");
    assert_eq!(
        statuses
            .iter()
            .filter(|status| status.as_u16() == 429)
            .count(),
        60 - usize::try_from(checked).expect("count"),
        "{statuses:?}"
    );
    assert_eq!(login(&server, "alice", PASSWORD, None).await.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_from_a_shared_address_lock_no_one_else_out() {
    let server = direct_login_server(TestOptions::default()).await;
    server.add_user("victim", &["user"], PASSWORD).await;
    // Thirty wrong passwords for thirty accounts, all from the address the victim uses too (a
    // shared proxy, or NAT): the network is slowed down, never locked.
    for n in 0..30 {
        assert_eq!(
            login(&server, &format!("guess-{n}"), "nope", None)
                .await
                .status(),
            401
        );
    }
    assert_eq!(
        login(&server, "victim", PASSWORD, None).await.status(),
        200,
        "the victim still signs in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_client_it_names_is_throttled() {
    let behind_proxy = direct_login_server(TestOptions {
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1"]).expect("proxies"),
        ..TestOptions::default()
    })
    .await;
    behind_proxy.add_user("alice", &["user"], PASSWORD).await;
    assert_eq!(
        login(&behind_proxy, "alice", "nope", Some("6.6.6.6, 203.0.113.9"))
            .await
            .status(),
        401
    );
    assert_eq!(
        login(&behind_proxy, "alice", PASSWORD, Some("198.51.100.7"))
            .await
            .status(),
        200
    );
    assert_eq!(
        audited_addresses(&behind_proxy).await,
        ["203.0.113.9", "198.51.100.7"],
        "the client the proxy names, not the proxy (nor what the client wrote before it)"
    );

    // Without trusted proxies the header proves nothing: the peer is the client.
    let direct = direct_login_server(TestOptions::default()).await;
    direct.add_user("alice", &["user"], PASSWORD).await;
    login(&direct, "alice", "nope", Some("203.0.113.9")).await;
    assert_eq!(audited_addresses(&direct).await, ["127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cross_site_logins_are_refused() {
    let server = direct_login_server(TestOptions {
        direct_login_origins: vec!["https://app.example".into()],
        ..TestOptions::default()
    })
    .await;
    server.add_user("attacker", &["user"], PASSWORD).await;
    let body = json!({"username": "attacker", "password": PASSWORD}).to_string();
    let post =
        |content_type: &'static str, origin: Option<&'static str>, site: Option<&'static str>| {
            let mut request = http()
                .post(server.url("/login"))
                .header("content-type", content_type)
                .body(body.clone());
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            if let Some(site) = site {
                request = request.header("sec-fetch-site", site);
            }
            request.send()
        };
    // What a cross-site <form enctype="text/plain"> sends: the JSON body as text.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = post(
            content_type,
            Some("https://evil.example"),
            Some("cross-site"),
        )
        .await
        .expect("login");
        assert_eq!(response.status(), 415, "{content_type}");
        assert!(response.headers().get("set-cookie").is_none(), "no session");
    }
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
    ] {
        let response = post("application/json", origin, site).await.expect("login");
        assert_eq!(response.status(), 403, "{origin:?} {site:?}");
        assert!(response.headers().get("set-cookie").is_none(), "no session");
    }
    let issuer_origin = server.base_url.clone();
    for (origin, site) in [
        (None, None),
        (Some("https://app.example"), Some("cross-site")),
    ] {
        let response = post("application/json; charset=utf-8", origin, site)
            .await
            .expect("login");
        assert_eq!(response.status(), 200, "{origin:?}");
    }
    let same_origin = http()
        .post(server.url("/login"))
        .header("origin", &issuer_origin)
        .header("sec-fetch-site", "same-origin")
        .json(&json!({"username": "attacker", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(same_origin.status(), 200, "the issuer's own pages");
}
