//! What happens when PostgreSQL or Redis goes away and comes back (docs/deployment.md, "When a
//! backend fails"). The services stay up for other tests; a [`TcpProxy`] in front of them is cut.

use super::support::{
    http, plain_upstream, redis_gateway_config, register_api_clients, service_client,
};
use portcullis_redis::RedisSettings;
use portcullis_testkit::proxy::{TcpProxy, address_of, url_via};
use portcullis_testkit::services::{TestDatabase, TestRedis};
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::Value;
use std::time::{Duration, Instant};

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn token_response(auth: &TestAuthServer, client_id: &str, secret: &str) -> (u16, Value) {
    let response = http()
        .post(auth.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

async fn status_of(url: String) -> u16 {
    http()
        .get(url)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers_without_restart() {
    let Some(database) = TestDatabase::create().await else {
        return;
    };
    let proxy = TcpProxy::start(address_of(database.url())).await;
    let auth = TestAuthServer::start_with(TestOptions {
        database_url: Some(url_via(database.url(), proxy.address())),
        ..TestOptions::default()
    })
    .await;
    let (_, secret) = auth.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    assert_eq!(token_response(&auth, "svc", &secret).await.0, 200);
    // Registered, but not yet read by the server: its first request needs the database.
    let (_, other_secret) = auth.add_client(service_client("svc2")).await;
    let other_secret = other_secret.expect("secret");

    proxy.cut();
    let (status, body) = token_response(&auth, "svc2", &other_secret).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(status_of(auth.url("/readyz")).await, 503);

    proxy.restore();
    eventually("the auth server reconnects", async || {
        token_response(&auth, "svc", &secret).await.0 == 200
    })
    .await;
    assert_eq!(status_of(auth.url("/readyz")).await, 200);
    auth.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_degrades_gateways_and_heals_by_itself() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let proxy = TcpProxy::start(address_of(redis.url())).await;
    let settings = RedisSettings {
        url: url_via(redis.url(), proxy.address()),
        prefix: redis.prefix().to_owned(),
        cluster: false,
    };
    let auth = TestAuthServer::start_with(TestOptions {
        redis: Some(settings.clone()),
        ..TestOptions::default()
    })
    .await;
    let (secret, feed_secret) = register_api_clients(&auth).await;
    let upstream = plain_upstream().await;
    let config = redis_gateway_config(&auth.base_url, &feed_secret, &upstream, 3, settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = portcullis_gateway::start(&config, async move {
        let _ = stopped.await;
    })
    .await
    .expect("gateway");
    let admin = format!("http://{}", gateway.admin_address);
    let base = format!("http://{}", gateway.address);
    let metrics = async || {
        reqwest::get(format!("{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let call = async |path: &str, token: &str| {
        http()
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("gateway")
            .status()
            .as_u16()
    };
    let revoke = async |token: &str| {
        let response = http()
            .post(auth.url("/revoke"))
            .basic_auth("svc", Some(&secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("revoke");
        assert_eq!(response.status(), 200);
    };
    eventually("the gateway follows Redis", async || {
        metrics()
            .await
            .contains("portcullis_gateway_redis_connected 1")
    })
    .await;
    let revoked_before = token_response(&auth, "svc", &secret).await.1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    revoke(&revoked_before).await;
    eventually("the pushed revocation applies", async || {
        call("/api/x", &revoked_before).await == 401
    })
    .await;

    proxy.cut();
    eventually("the gateway notices Redis is gone", async || {
        metrics()
            .await
            .contains("portcullis_gateway_redis_connected 0")
    })
    .await;
    let ready = http()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "still serving");
    assert!(ready.text().await.expect("text").contains("degraded"));
    let token = token_response(&auth, "svc", &secret).await.1["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        call("/api/x", &token).await,
        200,
        "signatures still validated"
    );
    assert_eq!(
        call("/api/x", &revoked_before).await,
        401,
        "the known revocation set is kept"
    );
    let limited: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(call("/limited/x", &token).await);
        }
        statuses
    };
    assert_eq!(limited, [200, 200, 200, 429], "the local limit applies");
    assert!(
        !metrics()
            .await
            .contains("portcullis_gateway_rate_limit_local_fallbacks_total 0")
    );
    revoke(&token).await; // announced into the void; the feed must deliver it later

    proxy.restore();
    eventually("the gateway follows Redis again", async || {
        metrics()
            .await
            .contains("portcullis_gateway_redis_connected 1")
    })
    .await;
    eventually(
        "the revocation made during the outage is caught up",
        async || call("/api/x", &token).await == 401,
    )
    .await;
    let ready = http()
        .get(format!("{admin}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.text().await.expect("text"), "ready");
    let _ = stop.send(());
    gateway.finished().await.expect("stops");
    auth.stop().await;
}
