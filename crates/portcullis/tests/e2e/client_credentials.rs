//! The client credentials grant, happy paths, verified by an independent JOSE implementation.

use super::support::{
    access_token, http, jwks, kid_of, parts, service_client, token_with_basic, verify_independently,
};
use portcullis_jose::Algorithm;
use portcullis_testkit::{TestAuthServer, TestOptions};

#[tokio::test]
async fn basic_auth_gets_an_rfc9068_token_that_an_independent_library_verifies() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let response = token_with_basic(
        &server,
        "svc",
        &secret.expect("secret"),
        &[
            ("grant_type", "client_credentials"),
            ("scope", "read"),
            ("resource", "https://api.example"),
        ],
    )
    .await;
    let (status, cache_control, body) = parts(response, "cache-control").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cache_control.as_deref(), Some("no-store"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read");
    assert!(
        body.get("refresh_token").is_none(),
        "client credentials get no refresh token"
    );
    let token = body["access_token"].as_str().expect("token");
    let claims = verify_independently(
        token,
        &jwks(&server.base_url).await,
        &server.base_url,
        "https://api.example",
    )
    .expect("independent verification");
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["scope"], "read");
    assert_eq!(claims["aud"], "https://api.example");
    let (iat, exp) = (
        claims["iat"].as_i64().expect("iat"),
        claims["exp"].as_i64().expect("exp"),
    );
    assert_eq!(exp - iat, 900, "15 minute default lifetime");
    assert!(
        claims["jti"].as_str().is_some_and(|jti| jti.len() >= 22),
        "128-bit jti"
    );
}

#[tokio::test]
async fn client_secret_post_works_and_defaults_grant_the_whole_allowance() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let response = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "svc"),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .expect("request");
    let (status, _, body) = parts(response, "pragma").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "read write");
    let claims = verify_independently(
        body["access_token"].as_str().expect("token"),
        &jwks(&server.base_url).await,
        &server.base_url,
        "orders",
    )
    .expect("verified");
    assert_eq!(
        claims["aud"],
        serde_json::json!(["https://api.example", "orders"])
    );
}

#[tokio::test]
async fn every_algorithm_and_per_client_lifetime_is_honoured() {
    for algorithm in [Algorithm::EdDsa, Algorithm::Rs256] {
        let server = TestAuthServer::start_with(TestOptions {
            algorithm,
            ..TestOptions::default()
        })
        .await;
        let mut registration = service_client("svc");
        registration.access_token_lifetime_secs = Some(120);
        let (_, secret) = server.add_client(registration).await;
        let response = token_with_basic(
            &server,
            "svc",
            &secret.expect("secret"),
            &[("grant_type", "client_credentials")],
        )
        .await;
        let (status, _, body) = parts(response, "cache-control").await;
        assert_eq!(status, 200);
        assert_eq!(body["expires_in"], 120);
        let token = body["access_token"].as_str().expect("token");
        let header = jsonwebtoken::decode_header(token).expect("header");
        assert_eq!(format!("{:?}", header.alg), algorithm.as_str());
        assert!(kid_of(token).starts_with(&algorithm.as_str().to_ascii_lowercase()));
        let claims = verify_independently(
            token,
            &jwks(&server.base_url).await,
            &server.base_url,
            "orders",
        )
        .unwrap_or_else(|error| panic!("{algorithm}: {error}"));
        assert_eq!(
            claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
            120
        );
    }
}

#[tokio::test]
async fn the_independent_verifier_rejects_a_tampered_token() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let token = &access_token(&server, "svc", &secret.expect("secret")).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let claims = portcullis_jose::base64url::decode(&parts[1]).expect("payload");
    let forged = String::from_utf8(claims)
        .expect("utf8")
        .replace("\"sub\":\"svc\"", "\"sub\":\"admin\"");
    parts[1] = portcullis_jose::base64url::encode(forged);
    let jwks = jwks(&server.base_url).await;
    assert!(verify_independently(&parts.join("."), &jwks, &server.base_url, "orders").is_err());
    assert!(
        verify_independently(token, &jwks, &server.base_url, "payments").is_err(),
        "wrong audience"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_an_audience_gets_the_default_one_that_a_gateway_accepts() {
    let server = TestAuthServer::start().await;
    let mut plain = service_client("plain");
    plain.audiences.clear();
    let (_, secret) = server.add_client(plain).await;
    let secret = secret.expect("secret");
    let token = access_token(&server, "plain", &secret).await;
    let claims = verify_independently(
        &token,
        &jwks(&server.base_url).await,
        &server.base_url,
        "api://default",
    )
    .expect("independent verification");
    assert_eq!(claims["aud"], "api://default");
    let upstream = super::support::plain_upstream().await;
    let config = portcullis_gateway::GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        issuers: vec![portcullis_gateway::config::IssuerConfig {
            issuer: server.base_url.clone(),
            jwt: true,
            introspection: None,
            jwks_url: None,
            jwks_file: None,
            audience: Some("api://default".into()),
            revocation_feed: None,
        }],
        routes: vec![portcullis_gateway::config::RouteConfig::new(
            "api", "/api", &upstream,
        )],
        ..portcullis_gateway::GatewayConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = portcullis_gateway::start(&config, async move {
        let _ = stopped.await;
    })
    .await
    .expect("gateway");
    let response = http()
        .get(format!("http://{}/api/x", gateway.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let other = token_with_basic(
        &server,
        "plain",
        &secret,
        &[("grant_type", "client_credentials"), ("audience", "orders")],
    )
    .await;
    let (status, _, body) = parts(other, "cache-control").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target"))
    );
    let _ = stop.send(());
    gateway.finished().await.expect("stops");
}
