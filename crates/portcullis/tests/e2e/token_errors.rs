//! Every error path of the token endpoint: RFC 6749 §5.2 codes, status, headers and JSON bodies.

use super::support::{http, parts, public_client, service_client, token_with_basic};
use portcullis_testkit::TestAuthServer;

/// Asserts the RFC 6749 §5.2 shape and returns the body.
async fn expect_error(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let (actual_status, cache_control, body) = parts(response, "cache-control").await;
    assert_eq!(
        (actual_status, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert_eq!(cache_control.as_deref(), Some("no-store"));
    assert!(body["error_description"].is_string());
    if status == 401 {
        assert!(
            www_authenticate.is_some_and(|value| value.starts_with("Basic realm=")),
            "401 needs WWW-Authenticate"
        );
    }
    body
}

#[tokio::test]
async fn client_authentication_failures_are_uniform_401s() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let grant = [("grant_type", "client_credentials")];
    let wrong = expect_error(
        token_with_basic(&server, "svc", "wrong-secret", &grant).await,
        401,
        "invalid_client",
    )
    .await;
    let unknown = expect_error(
        token_with_basic(&server, "ghost", &secret, &grant).await,
        401,
        "invalid_client",
    )
    .await;
    assert_eq!(
        wrong, unknown,
        "unknown client and wrong secret look the same"
    );
    let nothing = http()
        .post(server.url("/token"))
        .form(&grant)
        .send()
        .await
        .expect("request");
    expect_error(nothing, 401, "invalid_client").await;
    let no_secret = http()
        .post(server.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "svc")])
        .send()
        .await
        .expect("request");
    expect_error(no_secret, 401, "invalid_client").await;
    let garbage_basic = http()
        .post(server.url("/token"))
        .header("authorization", "Basic !!!")
        .form(&grant)
        .send()
        .await
        .expect("request");
    expect_error(garbage_basic, 400, "invalid_request").await;
}

#[tokio::test]
async fn public_clients_cannot_use_client_credentials() {
    let server = TestAuthServer::start().await;
    server.add_client(public_client("app")).await;
    let response = http()
        .post(server.url("/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "app")])
        .send()
        .await
        .expect("request");
    expect_error(response, 400, "unauthorized_client").await;
    let with_secret = token_with_basic(
        &server,
        "app",
        "made-up",
        &[("grant_type", "client_credentials")],
    )
    .await;
    expect_error(with_secret, 401, "invalid_client").await;
}

/// A form, and the status and error code it must get.
type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);

#[tokio::test]
async fn scope_audience_and_grant_type_are_enforced() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let cases: [Case; 8] = [
        (
            &[("grant_type", "client_credentials"), ("scope", "admin")],
            400,
            "invalid_scope",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read  write"),
            ],
            400,
            "invalid_scope",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://payments.example"),
            ],
            400,
            "invalid_target",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("resource", "relative/path"),
            ],
            400,
            "invalid_target",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("audience", "payments"),
            ],
            400,
            "invalid_target",
        ),
        (
            &[
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            &[("grant_type", "authorization_code"), ("code", "x")],
            400,
            "unauthorized_client",
        ),
        (&[("scope", "read")], 400, "invalid_request"),
    ];
    for (form, status, code) in cases {
        let body = expect_error(
            token_with_basic(&server, "svc", &secret, form).await,
            status,
            code,
        )
        .await;
        assert!(!body.to_string().contains(&secret));
    }
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let raw = |content_type: &'static str, body: &'static str| {
        http()
            .post(server.url("/token"))
            .basic_auth("svc", Some(&secret))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let duplicate = raw(
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&scope=read&scope=write",
    );
    let body = expect_error(duplicate.await.expect("request"), 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("scope"))
    );
    let duplicate_grant = raw(
        "application/x-www-form-urlencoded",
        "grant_type=client_credentials&grant_type=client_credentials",
    );
    expect_error(
        duplicate_grant.await.expect("request"),
        400,
        "invalid_request",
    )
    .await;
    let json = raw("application/json", r#"{"grant_type":"client_credentials"}"#);
    expect_error(json.await.expect("request"), 400, "invalid_request").await;
    let both_methods = http()
        .post(server.url("/token"))
        .basic_auth("svc", Some(&secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .expect("request");
    expect_error(both_methods, 400, "invalid_request").await;
    let oversized = http()
        .post(server.url("/token"))
        .basic_auth("svc", Some(&secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={}",
            "a".repeat(100_000)
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(oversized.status(), 413);
    let get = http()
        .get(server.url("/token"))
        .send()
        .await
        .expect("request");
    assert_eq!(get.status(), 405);
}
