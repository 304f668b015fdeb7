//! Token validation at the edge: every defect is a 401, policies give 403 with RFC 6750 headers,
//! keys follow rotation, survive an issuer outage, and revocations reach the gateway in time.

use super::support::{Stack, challenge, route, stack};
use portcullis_jose::Algorithm;
use portcullis_testkit::TestOptions;
use portcullis_testkit::hostile::TokenForge;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn now(stack: &Stack) -> i64 {
    stack.auth.state.clock.now()
}

fn claims(stack: &Stack) -> Value {
    let now = now(stack);
    json!({"iss": stack.auth.base_url, "sub": "svc", "aud": "api", "exp": now + 300, "iat": now, "jti": "j-1", "client_id": "svc", "scope": "read"})
}

/// The hostile-token corpus (`portcullis_testkit::hostile`): `alg: none` in every casing, HMAC
/// keyed with the public key in every form, self-chosen keys (`jwk`, `jku`, `x5u`, `x5c`), `crit`,
/// hostile kids, foreign keys, tampering, malformed encodings, duplicate members, oversized tokens
/// and claim defects. Each is refused by the gateway itself with RFC 6750 `invalid_token`.
#[tokio::test]
async fn every_token_defect_is_a_401_and_nothing_reaches_the_upstream() {
    let stack = stack(TestOptions::default(), |_, _| {}).await;
    let key = stack
        .auth
        .state
        .keys
        .signer(Algorithm::Es256, now(&stack))
        .expect("active key");
    let forge = TokenForge::new(
        key,
        claims(&stack),
        stack.auth.state.keys.jwks(now(&stack)),
        now(&stack),
    );
    assert_eq!(
        stack.get("/api/x", Some(&forge.valid())).await.status(),
        200,
        "the baseline token passes"
    );
    let corpus = forge.corpus();
    assert!(corpus.len() > 60, "{} cases", corpus.len());
    for (defect, token) in corpus {
        let response = stack.get("/api/x", Some(&token)).await;
        let status = response.status().as_u16();
        if defect.starts_with("oversized") {
            // Refused before any parsing: by the header size limit (431) or the token limit.
            assert!(status == 431 || status == 401, "{defect}: {status}");
            continue;
        }
        let body: Value = response.json().await.expect("json");
        if token.is_empty() {
            // `Authorization: Bearer ` with nothing after it is a malformed request (RFC 6750 §3.1).
            assert_eq!((status, &body["error"]), (400, &json!("invalid_request")));
            continue;
        }
        assert_eq!(status, 401, "{defect}");
        assert_eq!(body["error"], "invalid_token", "{defect}: {body}");
        let text = body.to_string();
        assert!(
            !text.contains("\"x\"") && !text.contains("\"y\"") && !text.contains("\"n\""),
            "no key material in errors: {text}"
        );
    }
    let none = stack.get("/api/x", None).await;
    assert_eq!(none.status(), 401);
    assert_eq!(
        challenge(&none),
        "Bearer realm=\"portcullis\"",
        "no error code without a token (RFC 6750 §3.1)"
    );
    stack.stop().await;
}

#[tokio::test]
async fn each_policy_allows_and_refuses() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut public = route("public", "/public", upstream);
        public.auth = "public".into();
        let mut scopes_all = route("all", "/all", upstream);
        scopes_all.scopes_all = vec!["read".into(), "write".into()];
        let mut scopes_any = route("any", "/any", upstream);
        scopes_any.scopes_any = vec!["admin".into(), "write".into()];
        let mut roles = route("roles", "/roles", upstream);
        roles.roles_any = vec!["admin".into()];
        let mut audience = route("aud", "/aud", upstream);
        audience.audience = Some("payments".into());
        config
            .routes
            .extend([public, scopes_all, scopes_any, roles, audience]);
    })
    .await;
    let read = stack.token(Some("read")).await;
    let both = stack.token(Some("read write")).await;
    assert_eq!(
        stack.get("/public/x", None).await.status(),
        200,
        "public needs no token"
    );
    assert_eq!(
        stack.get("/public/x", Some("garbage")).await.status(),
        200,
        "public ignores tokens"
    );
    assert_eq!(stack.get("/api/x", Some(&read)).await.status(), 200);
    assert_eq!(stack.get("/all/x", Some(&both)).await.status(), 200);
    let missing_scope = stack.get("/all/x", Some(&read)).await;
    assert_eq!(missing_scope.status(), 403);
    assert_eq!(
        challenge(&missing_scope),
        "Bearer realm=\"portcullis\", error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"read write\""
    );
    assert_eq!(stack.get("/any/x", Some(&both)).await.status(), 200);
    assert_eq!(stack.get("/any/x", Some(&read)).await.status(), 403);
    assert_eq!(
        stack.get("/roles/x", Some(&both)).await.status(),
        403,
        "client tokens have no roles"
    );
    assert_eq!(stack.get("/aud/x", Some(&both)).await.status(), 401);
    let unmatched = stack.get("/nowhere", Some(&both)).await;
    assert_eq!(unmatched.status(), 404);
    assert_eq!(
        unmatched.json::<Value>().await.expect("json")["error"],
        "not_found"
    );
    stack.stop().await;
}

#[tokio::test]
async fn rotated_keys_are_learned_and_cached_keys_survive_an_issuer_outage() {
    let options = TestOptions {
        prepublish_secs: 0,
        ..TestOptions::default()
    };
    let stack = stack(options, |_, _| {}).await;
    let before = stack.token(None).await;
    assert_eq!(stack.get("/api/x", Some(&before)).await.status(), 200);
    stack
        .auth
        .state
        .keys
        .rotate(&[Algorithm::Es256], now(&stack))
        .await
        .expect("rotate");
    // The new key activates strictly after the old one: at most a second from now.
    let deadline = Instant::now() + Duration::from_secs(3);
    let after = loop {
        let token = stack.token(None).await;
        if super::gateway_kid(&token) != super::gateway_kid(&before) {
            break token;
        }
        assert!(
            Instant::now() < deadline,
            "the new key never started signing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        stack.get("/api/x", Some(&after)).await.status(),
        200,
        "new kid fetched without restart"
    );

    let Stack {
        auth,
        upstream: _,
        gateway,
        base,
        secret: _,
        stop,
        http: _,
    } = stack;
    let _ = auth.stop().await;
    let response = reqwest::Client::new()
        .get(format!("{base}/api/x"))
        .bearer_auth(&before)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        200,
        "issuer down: cached keys keep working"
    );
    if let Some(stop) = stop {
        let _ = stop.send(());
    }
    if let Some(gateway) = gateway {
        gateway.finished().await.expect("stop");
    }
}

#[tokio::test]
async fn keys_never_loaded_means_503_not_401() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.issuers[0].jwks_url = Some("http://127.0.0.1:9/jwks.json".into());
        config.issuers[0].revocation_feed = None;
    })
    .await;
    let token = stack.token(None).await;
    let response = stack.get("/api/x", Some(&token)).await;
    assert_eq!(response.status(), 503);
    let ready = reqwest::get(format!(
        "http://{}/readyz",
        stack.gateway.as_ref().expect("gateway").admin_address
    ))
    .await
    .expect("readyz");
    assert_eq!(ready.status(), 503);
    stack.stop().await;
}

#[tokio::test]
async fn revoked_tokens_are_refused_within_two_seconds() {
    let stack = stack(TestOptions::default(), |_, _| {}).await;
    let token = stack.token(None).await;
    assert_eq!(
        stack.get("/api/x", Some(&token)).await.status(),
        200,
        "cached as valid"
    );
    super::support::revoke(&stack.auth, "svc", &stack.secret, &token).await;
    let started = Instant::now();
    loop {
        let response = stack.get("/api/x", Some(&token)).await;
        if response.status() == 401 {
            assert!(challenge(&response).contains("invalid_token"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "revocation not applied within 2 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let other = stack.token(None).await;
    assert_eq!(
        stack.get("/api/x", Some(&other)).await.status(),
        200,
        "only the revoked token is refused"
    );
    let metrics = stack.metrics().await;
    assert!(
        metrics.contains("portcullis_gateway_auth_failures_total{reason=\"revoked_token\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_gateway_revocation_feed_lag_seconds"));
    stack.stop().await;
}
