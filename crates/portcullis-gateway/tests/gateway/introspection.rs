//! Opaque tokens of a third-party issuer: panva's `oidc-provider` (Node.js, from npm) issues
//! opaque access tokens, and the gateway introspects them (RFC 7662) beside verifying the JWTs
//! of the Portcullis auth server.

use super::support::{Stack, challenge, route, stack};
use portcullis_gateway::config::{IntrospectionConfig, IssuerConfig};
use portcullis_testkit::TestOptions;
use portcullis_testkit::oidc_provider::{TestOidcProvider, provider_client};
use serde_json::Value;
use std::time::{Duration, Instant};

const SVC_SECRET: &str = "svc-secret-for-the-third-party-provider";
const GATEWAY_SECRET: &str = "gateway-secret-for-the-third-party-provider";

/// How many introspection calls ended with `outcome`.
async fn introspections(stack: &Stack, outcome: &str) -> u64 {
    let metrics = stack.metrics().await;
    metrics
        .lines()
        .find(|line| {
            line.starts_with("portcullis_gateway_introspections_total")
                && line.contains(&format!("outcome=\"{outcome}\""))
        })
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn opaque_tokens_of_a_third_party_issuer_pass_by_cached_introspection() {
    let Some(mut provider) = TestOidcProvider::start(
        vec![
            provider_client("svc", SVC_SECRET, &["client_credentials"], "read write"),
            provider_client("gateway", GATEWAY_SECRET, &[], ""),
        ],
        "api",
        "read write",
        300,
    )
    .await
    else {
        return;
    };
    let introspected = IssuerConfig {
        jwt: false,
        introspection: Some(IntrospectionConfig {
            url: provider.url("/token/introspection"),
            client_id: "gateway".into(),
            client_secret: GATEWAY_SECRET.into(),
            token_prefix: None,
            // Whole seconds: a 2 s cache lasts at least one full second.
            cache_secs: 2,
            negative_cache_secs: 30,
        }),
        ..IssuerConfig::new(&provider.issuer, "api")
    };
    let stack = stack(TestOptions::default(), move |config, upstream| {
        let own_issuer = config.issuers[0].issuer.clone();
        config.issuers.push(introspected);
        let mut writes = route("writes", "/writes", upstream);
        writes.scopes_all = vec!["write".into()];
        let mut own = route("own", "/own", upstream);
        own.issuers = vec![own_issuer];
        config.routes.extend([writes, own]);
    })
    .await;

    // An opaque token: introspected once, then served from the cache.
    let read = provider.token("svc", SVC_SECRET, "read").await;
    assert!(!read.contains('.'), "opaque, not a JWT: {read}");
    for _ in 0..3 {
        let response = stack.get("/api/x", Some(&read)).await;
        assert_eq!(response.status(), 200);
        let echoed: Value = response.json().await.expect("echo");
        assert_eq!(echoed["headers"]["x-portcullis-client"], "svc");
        assert_eq!(echoed["headers"]["x-portcullis-subject"], "svc");
        assert_eq!(echoed["headers"]["x-portcullis-scopes"], "read");
        assert_eq!(
            echoed["headers"]["x-portcullis-issuer"],
            provider.issuer.as_str(),
            "told apart from the Portcullis client of the same name"
        );
    }
    let response = stack.get("/own/x", Some(&read)).await;
    assert_eq!(response.status(), 401, "a route for the other issuer only");
    assert!(challenge(&response).contains("issuer"));
    assert_eq!(introspections(&stack, "active").await, 1, "cached");
    assert_eq!(
        stack.get("/writes/x", Some(&read)).await.status(),
        403,
        "the route's scope is checked on the introspected identity"
    );

    // A made-up token: inactive, and remembered as such.
    for _ in 0..3 {
        let response = stack.get("/api/x", Some("made-up-opaque-token")).await;
        assert_eq!(response.status(), 401);
        assert!(challenge(&response).contains("invalid_token"));
    }
    assert_eq!(
        introspections(&stack, "inactive").await,
        1,
        "negative cache"
    );

    // The JWTs of the Portcullis issuer are verified here, never sent to the provider.
    let jwt = stack.token(Some("read")).await;
    assert_eq!(stack.get("/api/x", Some(&jwt)).await.status(), 200);
    assert_eq!(introspections(&stack, "active").await, 1);
    assert_eq!(introspections(&stack, "inactive").await, 1);

    // Revoked at the provider: refused once the two-second cache runs out.
    provider.revoke("svc", SVC_SECRET, &read).await;
    let started = Instant::now();
    loop {
        let status = stack.get("/api/x", Some(&read)).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the revocation was not noticed within the cache time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The provider down: its tokens get 503 (not remembered), the JWTs still pass.
    let unseen = provider.token("svc", SVC_SECRET, "read").await;
    provider.stop();
    for _ in 0..2 {
        let response = stack.get("/api/x", Some(&unseen)).await;
        assert_eq!(response.status(), 503);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    assert!(introspections(&stack, "failure").await >= 2, "never cached");
    assert_eq!(stack.get("/api/x", Some(&jwt)).await.status(), 200);
    provider.resume().await;
    stack.stop().await;
}

#[tokio::test]
async fn introspecting_issuers_must_be_told_apart_and_well_formed() {
    let introspecting = |prefix: Option<&str>, url: &str| IssuerConfig {
        issuer: format!("http://127.0.0.1:9/{}", prefix.unwrap_or("fallback")),
        jwt: false,
        introspection: Some(IntrospectionConfig {
            url: url.into(),
            client_id: "gateway".into(),
            client_secret: "secret".into(),
            token_prefix: prefix.map(str::to_owned),
            cache_secs: 30,
            negative_cache_secs: 5,
        }),
        ..IssuerConfig::new("unused", "api")
    };
    let start = |issuers: Vec<IssuerConfig>| async move {
        let config = portcullis_gateway::GatewayConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            admin_listen: "127.0.0.1:0".parse().expect("addr"),
            issuers,
            ..portcullis_gateway::GatewayConfig::default()
        };
        portcullis_gateway::start(&config, std::future::pending())
            .await
            .err()
            .map(|error| error.to_string())
    };
    let url = "http://127.0.0.1:9/introspect";
    let refused = |error: Option<String>, expected: &str| {
        assert!(
            error
                .as_deref()
                .is_some_and(|error| error.contains(expected)),
            "{error:?} should name {expected}"
        );
    };
    let second_fallback = IssuerConfig {
        issuer: "http://127.0.0.1:9/other".into(),
        ..introspecting(None, url)
    };
    refused(
        start(vec![introspecting(None, url), second_fallback]).await,
        "token_prefix",
    );
    let same_prefix = IssuerConfig {
        issuer: "http://127.0.0.1:9/other".into(),
        ..introspecting(Some("p_"), url)
    };
    refused(
        start(vec![introspecting(Some("p_"), url), same_prefix]).await,
        "token_prefix",
    );
    refused(
        start(vec![introspecting(None, url), introspecting(None, url)]).await,
        "configured twice",
    );
    refused(
        start(vec![introspecting(Some(""), url)]).await,
        "cannot be empty",
    );
    for insecure in ["ftp://x/introspect", "http://idp.example/introspect"] {
        refused(
            start(vec![introspecting(None, insecure)]).await,
            "https URL",
        );
    }
    let opaque_without_introspection = IssuerConfig {
        jwt: false,
        ..IssuerConfig::new("http://127.0.0.1:9", "api")
    };
    refused(
        start(vec![opaque_without_introspection]).await,
        "needs introspection",
    );
    assert_eq!(
        start(vec![
            introspecting(Some("pat_"), url),
            introspecting(None, url)
        ])
        .await,
        None,
        "a prefix and a fallback"
    );
}
