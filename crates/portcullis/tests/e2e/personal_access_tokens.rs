//! Personal access tokens end to end: a user makes one on `/account`, and two gateways accept it
//! through cached introspection within its scopes and networks, as a bearer token or an API-key
//! header, until it is revoked (then within a second, on both); an administrator makes an API key
//! for a service account through the admin API.

use super::admin_api::{call, token_of};
use super::browser::{Browser, PASSWORD};
use portcullis_core::{ClientKind, ClientRegistration, ScopeSet};
use portcullis_gateway::RunningGateway;
use portcullis_gateway::config::{
    IntrospectionConfig, IssuerConfig, RevocationFeedConfig, RouteConfig,
};
use portcullis_service::personal_access_tokens::TokenPolicy;
use portcullis_testkit::browser::hidden_fields;
use portcullis_testkit::{TestAuthServer, TestOptions};
use portcullis_types::GrantType;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A confidential client-credentials client with these scopes and audiences.
fn service_account(id: &str, scopes: &[&str], audiences: &[&str]) -> ClientRegistration {
    ClientRegistration {
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        audiences: audiences
            .iter()
            .map(|audience| (*audience).to_owned())
            .collect(),
        ..ClientRegistration::new(
            id,
            ClientKind::Confidential,
            vec![GrantType::ClientCredentials],
        )
    }
}

/// An auth server where users may make tokens for `products:read` and `products:write`, accepted
/// by the audience `api`.
async fn server_with_tokens() -> TestAuthServer {
    TestAuthServer::start_with(TestOptions {
        personal_access_tokens: TokenPolicy {
            enabled: true,
            user_scopes: ScopeSet::parse("products:read products:write").expect("scope"),
            max_lifetime_days: 30,
            audiences: vec!["api".into()],
        },
        ..TestOptions::default()
    })
    .await
}

/// An upstream answering with the identity headers it received.
async fn identity_echo() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let identity: serde_json::Map<String, Value> = headers
            .iter()
            .filter(|(name, _)| name.as_str().starts_with("x-portcullis-"))
            .map(|(name, value)| {
                (
                    name.to_string(),
                    Value::String(value.to_str().unwrap_or_default().to_owned()),
                )
            })
            .collect();
        axum::Json(Value::Object(identity))
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

/// A gateway taking the server's personal access tokens by introspection, following its feed,
/// answering forward-auth too, and believing `X-Forwarded-For` from this machine if `trusting`.
async fn gateway(
    server: &TestAuthServer,
    secret: &str,
    upstream: &str,
    trusting: bool,
) -> RunningGateway {
    let config = portcullis_gateway::GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        forward_auth_listen: Some("127.0.0.1:0".parse().expect("addr")),
        trusted_proxies: if trusting {
            vec!["127.0.0.1".into()]
        } else {
            Vec::new()
        },
        api_key_header: Some("x-api-key".into()),
        issuers: vec![IssuerConfig {
            introspection: Some(IntrospectionConfig {
                url: server.url("/introspect"),
                client_id: "gateway".into(),
                client_secret: secret.to_owned(),
                token_prefix: Some("pcl_pat_".into()),
                cache_secs: 60,
                negative_cache_secs: 5,
            }),
            revocation_feed: Some(RevocationFeedConfig {
                client_id: "gateway".into(),
                client_secret: secret.to_owned(),
                poll_interval_ms: 200,
            }),
            ..IssuerConfig::new(&server.base_url, "api")
        }],
        routes: vec![
            RouteConfig {
                scopes_all: vec!["products:read".into()],
                ..RouteConfig::new("read", "/read", upstream)
            },
            RouteConfig {
                scopes_all: vec!["products:write".into()],
                ..RouteConfig::new("write", "/write", upstream)
            },
        ],
        ..portcullis_gateway::GatewayConfig::default()
    };
    portcullis_gateway::start(&config, std::future::pending())
        .await
        .expect("gateway starts")
}

async fn through(gateway: &RunningGateway, path: &str, header: (&str, String)) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("http://{}{path}", gateway.address))
        .header(header.0, header.1)
        .send()
        .await
        .expect("gateway");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// Makes a token on the account page; returns the page.
async fn make_token(
    browser: &Browser,
    server: &TestAuthServer,
    name: &str,
    scopes: &[&str],
    networks: &str,
    password: &str,
) -> (u16, String) {
    let (_, page) = browser.page(&server.url("/account")).await;
    let start = page.find("action=\"/account/tokens\"").expect("token form");
    let mut fields: Vec<(String, String)> = hidden_fields(&page[start..])
        .into_iter()
        .filter(|(name, _)| name == "csrf_token")
        .take(1)
        .collect();
    fields.push(("name".into(), name.into()));
    fields.extend(
        scopes
            .iter()
            .map(|scope| (format!("scope.{scope}"), (*scope).to_owned())),
    );
    fields.push(("days".into(), "7".into()));
    fields.push(("networks".into(), networks.into()));
    fields.push(("current_password".into(), password.into()));
    let response = browser.post(&server.url("/account/tokens"), &fields).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

fn shown_token(page: &str) -> String {
    let start = page.find("pcl_pat_").expect("the token is shown");
    page[start..start + "pcl_pat_".len() + 43].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_access_tokens_work_through_every_gateway_until_revoked() {
    let server = server_with_tokens().await;
    let alice = server.add_user("alice", &["user"], PASSWORD).await;
    let (_, secret) = server
        .add_client(service_account(
            "gateway",
            &["portcullis:introspect", "portcullis:revocations"],
            &["api"],
        ))
        .await;
    let secret = secret.expect("secret");
    let upstream = identity_echo().await;
    let gateways = [
        gateway(&server, &secret, &upstream, true).await,
        gateway(&server, &secret, &upstream, false).await,
    ];

    // Made on the account page, shown once.
    let browser = Browser::new();
    let (status, _) = browser
        .open_signed_in(
            &server.base_url,
            &server.url("/account"),
            ("alice", PASSWORD),
        )
        .await;
    assert_eq!(status, 200);
    let (status, page) = make_token(
        &browser,
        &server,
        "ci job",
        &["products:read"],
        "",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let token = shown_token(&page);
    let (_, again) = browser.page(&server.url("/account")).await;
    assert!(
        again.contains("ci job") && !again.contains(&token),
        "listed, never shown again"
    );

    // Within its scopes, on both gateways, as a bearer token or in the API-key header.
    for gateway in &gateways {
        let (status, identity) = through(gateway, "/read/products", bearer(&token)).await;
        assert_eq!(status, 200);
        assert_eq!(identity["x-portcullis-subject"], alice.id.as_str());
        assert_eq!(identity["x-portcullis-username"], "alice");
        assert_eq!(identity["x-portcullis-scopes"], "products:read");
        assert_eq!(identity["x-portcullis-issuer"], server.base_url.as_str());
        let (status, _) = through(gateway, "/read/products", ("x-api-key", token.clone())).await;
        assert_eq!(status, 200);
        let (status, _) = through(gateway, "/write/products", bearer(&token)).await;
        assert_eq!(status, 403, "beyond its scopes");
    }
    let (_, listed) = browser.page(&server.url("/account")).await;
    assert!(listed.contains("last used"), "{listed}");

    // Scopes beyond what the owner may give, and networks the request is not from.
    let (status, refused) = make_token(
        &browser,
        &server,
        "too much",
        &["portcullis:admin"],
        "",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let (_, fenced) = make_token(
        &browser,
        &server,
        "office only",
        &["products:read"],
        "203.0.113.0/24",
        PASSWORD,
    )
    .await;
    let fenced = shown_token(&fenced);
    let (status, _) = through(&gateways[0], "/read/products", bearer(&fenced)).await;
    assert_eq!(status, 401, "127.0.0.1 is not in 203.0.113.0/24");
    // Asked by a proxy in front: the client's address is the one a trusted proxy forwards;
    // from a proxy the gateway does not trust, a fenced token's client cannot be told: refused.
    for (gateway, expected) in [(&gateways[0], 200), (&gateways[1], 401)] {
        let listener = gateway.forward_auth_address.expect("forward-auth");
        let status = reqwest::Client::new()
            .get(format!("http://{listener}/_portcullis/auth"))
            .header("x-original-uri", "/read/products")
            .header("x-original-method", "GET")
            .header("x-forwarded-host", "shop.example")
            .header("x-forwarded-for", "203.0.113.9")
            .bearer_auth(&fenced)
            .send()
            .await
            .expect("forward-auth")
            .status();
        assert_eq!(status, expected);
    }

    // Revoked on the account page: refused by both gateways within a second, though cached.
    let (_, page) = browser.page(&server.url("/account")).await;
    let item = page
        .split("<li>")
        .map(|item| item.split("</li>").next().unwrap_or_default())
        .find(|item| item.contains("ci job"))
        .expect("listed");
    let revoked = browser
        .post(&server.url("/account/tokens/revoke"), &hidden_fields(item))
        .await;
    assert_eq!(revoked.status(), 303);
    let started = Instant::now();
    for gateway in &gateways {
        loop {
            let (status, _) = through(gateway, "/read/products", bearer(&token)).await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "still accepted a second after its revocation"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // A service account's API key, made by an administrator, shown once, revocable.
    server
        .add_client(service_account(
            "nightly-export",
            &["products:read"],
            &["api"],
        ))
        .await;
    let admin = token_of(&server, "ops", "portcullis:admin").await;
    let path = "/admin/v1/clients/nightly-export/tokens";
    let (status, wider) = call(
        &server,
        reqwest::Method::POST,
        path,
        Some(&admin),
        Some(json!({"name": "export", "scope": "products:write", "expires_in_days": 7})),
    )
    .await;
    assert_eq!(
        (status, wider["field"].as_str()),
        (400, Some("scope")),
        "{wider}"
    );
    let (status, created) = call(
        &server,
        reqwest::Method::POST,
        path,
        Some(&admin),
        Some(json!({"name": "export", "scope": "products:read", "expires_in_days": 7})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["token"].as_str().expect("token").to_owned();
    let (status, identity) = through(&gateways[1], "/read/x", ("x-api-key", key.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(identity["x-portcullis-subject"], "nightly-export");
    let (status, listed) = call(&server, reqwest::Method::GET, path, Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["name"], "export");
    assert!(listed[0].get("token").is_none(), "never listed");
    let id = created["id"].as_str().expect("id");
    let (status, _) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("{path}/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let started = Instant::now();
    loop {
        let (status, _) = through(&gateways[1], "/read/x", ("x-api-key", key.clone())).await;
        if status == 401 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kinds: Vec<String> =
        super::support::audit_details(&server, "personal_access_token_changed").await;
    assert_eq!(kinds.len(), 5, "{kinds:?}");
}

/// `POST /introspect` as `client_id`.
async fn introspect_as(
    server: &TestAuthServer,
    client_id: &str,
    secret: &str,
    token: &str,
) -> Value {
    reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_need_the_password_follow_their_owner_and_stay_theirs() {
    let server = server_with_tokens().await;
    let admin = token_of(&server, "ops", "portcullis:admin").await;
    let (status, _) = call(
        &server,
        reqwest::Method::PUT,
        "/admin/v1/roles/writer",
        Some(&admin),
        Some(json!({"scopes": ["products:write"]})),
    )
    .await;
    assert_eq!(status, 200);
    server.add_user("alice", &["writer"], PASSWORD).await;
    server.add_user("bob", &[], PASSWORD).await;
    let resource_server =
        |id: &str, audience: &str| service_account(id, &["portcullis:introspect"], &[audience]);
    let (_, gateway_secret) = server.add_client(resource_server("gateway", "api")).await;
    let gateway_secret = gateway_secret.expect("secret");
    let (_, other_secret) = server
        .add_client(resource_server("other", "elsewhere"))
        .await;

    let alice = Browser::new();
    alice
        .open_signed_in(
            &server.base_url,
            &server.url("/account"),
            ("alice", PASSWORD),
        )
        .await;
    let both = ["products:read", "products:write"];
    let (status, page) = make_token(&alice, &server, "deploy", &both, "", "not the password").await;
    assert_eq!(status, 401, "the current password is asked");
    assert!(!page.contains("pcl_pat_"));
    let (status, page) = make_token(&alice, &server, "deploy", &both, "", PASSWORD).await;
    assert_eq!(status, 200);
    let token = shown_token(&page);

    let answer = introspect_as(&server, "gateway", &gateway_secret, &token).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["scope"], "products:read products:write");
    assert_eq!(answer["username"], "alice");
    let elsewhere = introspect_as(&server, "other", &other_secret.expect("secret"), &token).await;
    assert_eq!(
        elsewhere,
        json!({"active": false}),
        "not among its audiences"
    );

    // Bob cannot revoke Alice's token from his account page.
    let (_, alice_page) = alice.page(&server.url("/account")).await;
    let token_id = alice_page
        .split("name=\"token_id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("token id")
        .to_owned();
    let bob = Browser::new();
    let (_, bob_page) = bob
        .open_signed_in(&server.base_url, &server.url("/account"), ("bob", PASSWORD))
        .await;
    let csrf = hidden_fields(&bob_page)
        .into_iter()
        .find(|(name, _)| name == "csrf_token")
        .expect("csrf");
    let attempt = bob
        .post(
            &server.url("/account/tokens/revoke"),
            &[csrf, ("token_id".into(), token_id)],
        )
        .await;
    assert_eq!(attempt.status(), 303);
    let answer = introspect_as(&server, "gateway", &gateway_secret, &token).await;
    assert_eq!(answer["active"], true, "still Alice's");

    // The owner's grant shrinks, the token's with it; a disabled owner's token is inactive.
    let patch = |body: Value| {
        call(
            &server,
            reqwest::Method::PATCH,
            "/admin/v1/users/alice",
            Some(&admin),
            Some(body),
        )
    };
    assert_eq!(patch(json!({"roles": []})).await.0, 200);
    let answer = introspect_as(&server, "gateway", &gateway_secret, &token).await;
    assert_eq!(answer["scope"], "products:read", "{answer}");
    assert_eq!(patch(json!({"disabled": true})).await.0, 200);
    let answer = introspect_as(&server, "gateway", &gateway_secret, &token).await;
    assert_eq!(answer, json!({"active": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_and_are_counted_per_owner() {
    let clock = portcullis_testkit::ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        clock: clock.clone(),
        personal_access_tokens: TokenPolicy {
            max_lifetime_days: 30,
            audiences: vec!["api".into()],
            ..TokenPolicy::default()
        },
        ..TestOptions::default()
    })
    .await;
    let admin = token_of(&server, "ops", "portcullis:admin").await;
    server
        .add_client(service_account("exporter", &["products:read"], &["api"]))
        .await;
    let (_, secret) = server
        .add_client(service_account(
            "gateway",
            &["portcullis:introspect"],
            &["api"],
        ))
        .await;
    let secret = secret.expect("secret");
    let path = "/admin/v1/clients/exporter/tokens";
    let make = |days: i64| {
        call(
            &server,
            reqwest::Method::POST,
            path,
            Some(&admin),
            Some(json!({"name": "nightly", "scope": "products:read", "expires_in_days": days})),
        )
    };
    let (status, too_long) = make(31).await;
    assert_eq!(
        (status, too_long["field"].as_str()),
        (400, Some("expires_in_days"))
    );
    let (status, created) = make(1).await;
    assert_eq!(status, 201);
    let key = created["token"].as_str().expect("token").to_owned();
    assert_eq!(
        introspect_as(&server, "gateway", &secret, &key).await["active"],
        true
    );
    // At most 50 per owner.
    for _ in 1..50 {
        assert_eq!(make(1).await.0, 201);
    }
    let (status, refused) = make(1).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("conflict")),
        "{refused}"
    );
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/clients/nobody/tokens",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404);

    clock.advance(86_400);
    assert_eq!(
        introspect_as(&server, "gateway", &secret, &key).await,
        json!({"active": false}),
        "expired after its day"
    );
}
