//! A cluster on loopback: two auth servers and two gateways over one PostgreSQL database and one
//! Redis (issue: scale-out). Needs `PORTCULLIS_TEST_POSTGRES_URL` and `PORTCULLIS_TEST_REDIS_URL`
//! (and `PORTCULLIS_TEST_REDIS_CLUSTER_URL` for the Redis Cluster variant), skipped without them,
//! failing under `CI=true`.

use super::browser::{
    Browser, CALLBACK, app_client, authorize, authorize_url, exchange, pkce_pair, query_param,
    refresh,
};
use super::support::{http, plain_upstream, redis_gateway_config, register_api_clients};
use portcullis_gateway::RunningGateway;
use portcullis_jose::KeyEncryptionKey;
use portcullis_testkit::services::{TestDatabase, TestRedis};
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Requests per minute the cluster lets one client make on `/limited`.
const CLUSTER_LIMIT: u32 = 4;

struct Cluster {
    auth_a: TestAuthServer,
    auth_b: TestAuthServer,
    gateways: Vec<(RunningGateway, oneshot::Sender<()>)>,
    database: TestDatabase,
    kek: String,
    svc_secret: String,
    redis: TestRedis,
}

/// Starts the cluster over `redis` (a server or a Redis Cluster), with browser sessions in Redis
/// or in PostgreSQL; `None` when the services are not configured (outside CI).
async fn cluster(redis: Option<TestRedis>, redis_sessions: bool) -> Option<Cluster> {
    let redis = redis?;
    let database = TestDatabase::create().await?;
    let settings = redis.settings();
    let kek = KeyEncryptionKey::generate().expect("kek").to_base64url();
    let options = TestOptions {
        database_url: Some(database.url().to_owned()),
        key_encryption_key: Some(kek.clone()),
        redis: Some(settings.clone()),
        // Codes in Redis here; the database path is the default everywhere else.
        redis_codes: true,
        redis_sessions,
        ..TestOptions::default()
    };
    let auth_a = TestAuthServer::start_with(options.clone()).await;
    let auth_b = TestAuthServer::start_with(TestOptions {
        issuer: Some(auth_a.base_url.clone()),
        ..options
    })
    .await;
    // Registered once, through A: B reads the same database.
    auth_a.add_client(app_client()).await;
    auth_a
        .add_user("ada", &["staff"], super::browser::PASSWORD)
        .await;
    let (svc_secret, feed_secret) = register_api_clients(&auth_a).await;
    let upstream = plain_upstream().await;
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let config = redis_gateway_config(
            &auth_a.base_url,
            &feed_secret,
            &upstream,
            CLUSTER_LIMIT,
            settings.clone(),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let gateway = portcullis_gateway::start(&config, async move {
            let _ = stopped.await;
        })
        .await
        .expect("gateway starts");
        gateways.push((gateway, stop));
    }
    let cluster = Cluster {
        auth_a,
        auth_b,
        gateways,
        database,
        kek,
        svc_secret,
        redis,
    };
    for index in 0..2 {
        cluster
            .wait_for_metric(index, "portcullis_gateway_redis_connected 1")
            .await;
    }
    Some(cluster)
}

impl Cluster {
    fn gateway_url(&self, index: usize, path: &str) -> String {
        format!("http://{}{path}", self.gateways[index].0.address)
    }

    async fn get(&self, index: usize, path: &str, token: &str) -> u16 {
        http()
            .get(self.gateway_url(index, path))
            .bearer_auth(token)
            .send()
            .await
            .expect("gateway")
            .status()
            .as_u16()
    }

    async fn metrics(&self, index: usize) -> String {
        let admin = self.gateways[index].0.admin_address;
        reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    async fn wait_for_metric(&self, index: usize, line: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.metrics(index).await.contains(line) {
            assert!(Instant::now() < deadline, "gateway {index}: no `{line}`");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn service_token(&self, server: &TestAuthServer) -> String {
        let response: Value = http()
            .post(server.url("/token"))
            .basic_auth("svc", Some(&self.svc_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        response["access_token"].as_str().expect("token").to_owned()
    }

    async fn stop(self) {
        for (gateway, stop) in self.gateways {
            let _ = stop.send(());
            gateway.finished().await.expect("gateway stops");
        }
        self.auth_a.stop().await;
        self.auth_b.stop().await;
        drop(self.database);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_auth_servers_and_two_gateways_share_one_state() {
    let Some(cluster) = cluster(TestRedis::create(), false).await else {
        return;
    };
    let (a, b) = (&cluster.auth_a, &cluster.auth_b);

    // A session created at A is valid at B; a code issued by A is redeemed at B.
    let browser = Browser::new();
    let (verifier, challenge) = pkce_pair();
    let scope = "openid offline_access api:read";
    let callback = authorize(
        &browser,
        a,
        &authorize_url(a, scope, &challenge, &[]),
        "ada",
    )
    .await;
    let code = query_param(&callback, "code").expect("code from A");
    let stored_codes: Vec<String> = {
        let client = redis::Client::open(cluster.redis.url()).expect("redis");
        let mut connection = client.get_connection().expect("connect");
        redis::cmd("KEYS")
            .arg(format!("{}:code:*", cluster.redis.prefix()))
            .query(&mut connection)
            .expect("KEYS")
    };
    assert_eq!(stored_codes.len(), 1, "the code lives in Redis");
    let tokens: Value = exchange(b, &code, &verifier)
        .await
        .json()
        .await
        .expect("json");
    let first_refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh token from B");
    let (_, challenge) = pkce_pair();
    let at_b = browser.get(&authorize_url(b, scope, &challenge, &[])).await;
    assert_eq!(
        at_b.status(),
        303,
        "B knows A's session and consent: no sign-in page"
    );
    let location = at_b.headers()["location"].to_str().expect("location");
    assert!(
        location.starts_with(CALLBACK) && location.contains("code="),
        "{location}"
    );

    // A refresh token rotated at A and replayed at B revokes the family.
    let rotated: Value = refresh(a, first_refresh).await.json().await.expect("json");
    let second_refresh = rotated["refresh_token"].as_str().expect("rotated at A");
    let replay = refresh(b, first_refresh).await;
    assert_eq!(replay.status(), 400, "replay at B refused");
    assert_eq!(
        refresh(a, second_refresh).await.status(),
        400,
        "the whole family is revoked, at A too"
    );

    // A token revoked at A is rejected by gateway 2 within a second (the feed polls once a minute).
    let token = cluster.service_token(a).await;
    assert_eq!(cluster.get(1, "/api/x", &token).await, 200);
    let revoked = http()
        .post(a.url("/revoke"))
        .basic_auth("svc", Some(&cluster.svc_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    let revoked_at = Instant::now();
    while cluster.get(1, "/api/x", &token).await != 401 {
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "gateway 2 still accepts a token revoked at A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cluster.get(0, "/api/x", &token).await, 401, "gateway 1 too");

    // A rate limit of N per minute holds for the cluster, not per gateway.
    let token = cluster.service_token(b).await;
    let mut statuses = Vec::new();
    for attempt in 0..CLUSTER_LIMIT + 2 {
        statuses.push(
            cluster
                .get((attempt % 2) as usize, "/limited/x", &token)
                .await,
        );
    }
    let allowed = statuses.iter().filter(|status| **status == 200).count();
    assert_eq!(allowed, CLUSTER_LIMIT as usize, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .skip(CLUSTER_LIMIT as usize)
            .all(|status| *status == 429)
    );

    // `admin keys rotate` (the CLI, on the shared database) reaches both gateways: A notices the
    // new key, announces it, and both refetch at once; their own refetch is held back an hour.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args([
            "admin",
            "--database-url",
            cluster.database.url(),
            "keys",
            "rotate",
        ])
        .env("PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY", &cluster.kek)
        .env("PORTCULLIS_KEYS_PREPUBLISH_SECS", "3")
        .env("PORTCULLIS_KEYS_JWKS_MAX_AGE_SECS", "1")
        .env("PORTCULLIS_KEYS_REFRESH_INTERVAL_SECS", "1")
        .output()
        .expect("portcullis admin");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for index in 0..2 {
        cluster
            .wait_for_metric(
                index,
                "portcullis_gateway_cluster_events_total{reason=\"keys_changed\"}",
            )
            .await;
    }
    let old_kid = super::support::kid_of(&cluster.service_token(a).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    let new_token = loop {
        let token = cluster.service_token(b).await;
        if super::support::kid_of(&token) != old_kid {
            break token;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key never started signing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for index in 0..2 {
        assert_eq!(
            cluster.get(index, "/api/x", &new_token).await,
            200,
            "gateway {index} verifies the new key it learned from the announcement"
        );
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_redis_are_shared_listed_and_revoked() {
    sessions_in_redis(TestRedis::create()).await;
}

/// The same over a Redis Cluster: sessions, codes, announcements and the CLI, sharded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_in_a_redis_cluster_are_shared_listed_and_revoked() {
    sessions_in_redis(TestRedis::create_cluster()).await;
}

async fn sessions_in_redis(redis: Option<TestRedis>) {
    let Some(cluster) = cluster(redis, true).await else {
        return;
    };
    let (a, b) = (&cluster.auth_a, &cluster.auth_b);
    let browser = Browser::new();
    let scope = "openid api:read";
    let (_, challenge) = pkce_pair();
    authorize(
        &browser,
        a,
        &authorize_url(a, scope, &challenge, &[]),
        "ada",
    )
    .await;
    let (_, challenge) = pkce_pair();
    let at_b = browser.get(&authorize_url(b, scope, &challenge, &[])).await;
    assert!(
        redirect_target(&at_b).starts_with(CALLBACK),
        "the session made at A is valid at B"
    );

    let admin = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(["admin", "--database-url", cluster.database.url(), "session"])
            .args(args)
            .env("PORTCULLIS_REDIS_URL", cluster.redis.url())
            .env("PORTCULLIS_REDIS_PREFIX", cluster.redis.prefix())
            .env("PORTCULLIS_REDIS_SESSIONS", "true")
            .env(
                "PORTCULLIS_REDIS_CLUSTER",
                cluster.redis.settings().cluster.to_string(),
            )
            .output()
            .expect("portcullis admin")
    };
    let listed = admin(&["list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let row = listed.lines().nth(1).expect("one session");
    assert!(row.contains("ada"), "{listed}");
    let sid = row.split_whitespace().next().expect("sid");
    let revoked = admin(&["revoke", sid]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );

    let (_, challenge) = pkce_pair();
    let after = browser.get(&authorize_url(a, scope, &challenge, &[])).await;
    assert!(
        !redirect_target(&after).starts_with(CALLBACK),
        "signed out everywhere: sign-in again"
    );
    cluster.stop().await;
}

/// Where a 303 points (empty for any other status).
fn redirect_target(response: &reqwest::Response) -> String {
    if response.status() != 303 {
        return String::new();
    }
    response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}
