//! Health, readiness, metrics, request ids and unknown routes.

use super::support::{http, service_client, token_with_basic};
use portcullis_testkit::TestAuthServer;

#[tokio::test]
async fn health_readiness_and_unknown_routes() {
    let server = TestAuthServer::start().await;
    let health = http()
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = http()
        .get(server.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let missing = http().get(server.url("/nope")).send().await.expect("404");
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.expect("json")["error"],
        "not_found"
    );
}

#[tokio::test]
async fn request_ids_are_kept_when_plain_and_replaced_otherwise() {
    let server = TestAuthServer::start().await;
    let with_id = http()
        .get(server.url("/healthz"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("get");
    assert_eq!(with_id.headers()["x-request-id"], "trace-42");
    let hostile = http()
        .get(server.url("/healthz"))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .expect("get");
    let generated = hostile.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(generated.len() >= 16 && !generated.contains(' '));
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_failures() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    for _ in 0..2 {
        token_with_basic(
            &server,
            "svc",
            &secret,
            &[("grant_type", "client_credentials")],
        )
        .await;
    }
    token_with_basic(
        &server,
        "svc",
        "wrong",
        &[("grant_type", "client_credentials")],
    )
    .await;
    token_with_basic(
        &server,
        "svc",
        &secret,
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await;
    // Metrics are on the admin listener only, never on the public one.
    let public = http()
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("public");
    assert_eq!(public.status(), 404);
    let metrics = http()
        .get(format!("{}/metrics", server.admin_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let has = |line: &str| metrics.lines().any(|l| l == line);
    assert!(
        has(r#"portcullis_tokens_issued_total{grant_type="client_credentials"} 2"#),
        "{metrics}"
    );
    assert!(
        has(r#"portcullis_token_failures_total{error="invalid_client"} 1"#),
        "{metrics}"
    );
    assert!(
        has(r#"portcullis_token_failures_total{error="invalid_scope"} 1"#),
        "{metrics}"
    );
    assert!(
        has(r#"portcullis_http_requests_total{route="/token",method="POST",status="200"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_http_request_duration_seconds_bucket"));
    assert!(!metrics.contains(&secret));
}
