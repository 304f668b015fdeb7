//! Clients are kept in memory by each auth server (issue 23: no store read per token request);
//! a change made through any server must still take effect on every server within a second.
//! Over PostgreSQL and Redis the announcement does it (the servers here keep copies for a
//! minute, so nothing else could); without Redis, the copy's short life does.

use super::admin_api::{call, token_of};
use super::support::{
    client_credentials_status, client_credentials_status_within_bound as seen_within_bound,
    service_client,
};
use portcullis_jose::KeyEncryptionKey;
use portcullis_service::Store;
use portcullis_testkit::services::{TestDatabase, TestRedis};
use portcullis_testkit::{TestAuthServer, TestOptions};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_server_reaches_the_other_through_the_announcement() {
    let (Some(redis), Some(database)) = (TestRedis::create(), TestDatabase::create().await) else {
        return;
    };
    let options = TestOptions {
        database_url: Some(database.url().to_owned()),
        key_encryption_key: Some(KeyEncryptionKey::generate().expect("kek").to_base64url()),
        redis: Some(redis.settings()),
        // Far longer than the bound: only the announcement can make the change visible in time.
        client_cache_max_age: Duration::from_secs(60),
        ..TestOptions::default()
    };
    let a = TestAuthServer::start_with(options.clone()).await;
    let b = TestAuthServer::start_with(TestOptions {
        issuer: Some(a.base_url.clone()),
        ..options
    })
    .await;
    let admin = token_of(&a, "ops", "portcullis:admin").await;
    let (_, secret) = a.add_client(service_client("svc")).await;
    let old = secret.expect("secret");
    // Both servers now keep a copy.
    assert_eq!(client_credentials_status(&a, "svc", &old).await, 200);
    assert_eq!(client_credentials_status(&b, "svc", &old).await, 200);

    // A new secret through A: the old one stops at A at once and at B within the bound.
    let (status, rotated) = call(
        &a,
        Method::POST,
        "/admin/v1/clients/svc/secret",
        Some(&admin),
        None,
    )
    .await;
    let rotated_at = Instant::now();
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["client_secret"].as_str().expect("new secret");
    assert_eq!(client_credentials_status(&a, "svc", &old).await, 401);
    seen_within_bound(&b, "svc", &old, 401, rotated_at).await;
    assert_eq!(client_credentials_status(&b, "svc", new).await, 200);

    // A change of registration through B (client credentials taken away) reaches A.
    let (status, body) = call(
        &b,
        Method::PUT,
        "/admin/v1/clients/svc",
        Some(&admin),
        Some(
            json!({"id": "svc", "kind": "confidential", "grant_types": ["authorization_code"],
            "redirect_uris": ["https://app.example/callback"]}),
        ),
    )
    .await;
    let updated_at = Instant::now();
    assert_eq!(status, 200, "{body}");
    assert_eq!(client_credentials_status(&b, "svc", new).await, 400);
    seen_within_bound(&a, "svc", new, 400, updated_at).await;

    // Deleted through A: B refuses the client within the bound.
    let (status, body) = call(
        &a,
        Method::DELETE,
        "/admin/v1/clients/svc",
        Some(&admin),
        None,
    )
    .await;
    let deleted_at = Instant::now();
    assert_eq!(status, 204, "{body}");
    seen_within_bound(&b, "svc", new, 401, deleted_at).await;

    b.stop().await;
    a.stop().await;
    drop(database);
}

#[tokio::test]
async fn without_announcements_a_change_in_the_database_is_seen_within_a_second() {
    // One server without Redis, changed behind its back, as `portcullis admin` against the
    // database does: its copy lives at most the default second.
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    assert_eq!(
        client_credentials_status(&server, "svc", &secret).await,
        200
    );
    let store: &dyn Store = server.state.store.as_ref();
    assert!(
        store
            .set_client_secret_hash("svc", &portcullis_core::SecretHash::of("another secret"))
            .await
            .expect("store")
    );
    let changed_at = Instant::now();
    seen_within_bound(&server, "svc", &secret, 401, changed_at).await;
    assert_eq!(
        client_credentials_status(&server, "svc", "another secret").await,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn a_code_is_not_redeemed_for_a_client_deleted_while_its_copy_is_kept() {
    use super::browser::{
        APP, Browser, PASSWORD, app_client, authorize, authorize_url, exchange, pkce_pair,
        query_param,
    };
    // As another server sees a deletion whose announcement it missed: the copy is kept a minute.
    let server = TestAuthServer::start_with(TestOptions {
        client_cache_max_age: Duration::from_secs(60),
        ..TestOptions::default()
    })
    .await;
    server.add_client(app_client()).await;
    server.add_user("ada", &[], PASSWORD).await;
    let (verifier, challenge) = pkce_pair();
    let browser = Browser::new();
    let callback = authorize(
        &browser,
        &server,
        &authorize_url(&server, "openid offline_access", &challenge, &[]),
        "ada",
    )
    .await;
    let code = query_param(&callback, "code").expect("code");
    let store: &dyn Store = server.state.store.as_ref();
    assert!(store.delete_client(APP).await.expect("delete"));

    // Redeeming a code leaves a refresh token behind: the client is read from the store.
    let response = exchange(&server, &code, &verifier).await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    server.stop().await;
}
