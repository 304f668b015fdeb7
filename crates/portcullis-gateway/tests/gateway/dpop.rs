//! DPoP-bound tokens at the gateway (RFC 9449 §7), with proofs made by an independent JOSE
//! implementation (`portcullis_testkit::dpop`: the `jsonwebtoken` crate, keys from `rcgen`): a
//! token the auth server bound at its token endpoint works through the gateway with proofs of its
//! key and not without; a bound token passes only with a
//! fresh proof of its key for this exact request, even once it is in the verified-token cache;
//! every defect of RFC 9449 §4.3 is a 401 `invalid_dpop_proof` with a DPoP challenge; an unbound
//! token sent as DPoP and a bound one sent as a bearer token are refused; a route can require
//! DPoP; behind a trusted proxy the forwarded URL is the one proved.

use super::support::{Stack, challenge, route, stack};
use portcullis_jose::Algorithm;
use portcullis_testkit::TestOptions;
use portcullis_testkit::dpop::DpopKey;
use portcullis_testkit::hostile::TokenForge;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

static JTI: AtomicU64 = AtomicU64::new(0);

/// The claims of a proof for `method url` with `token`, made now.
fn claims(stack: &Stack, method: &str, url: &str, token: &str) -> Value {
    DpopKey::claims(method, url, stack.auth.state.clock.now(), Some(token))
}

/// An access token of the auth server's key, bound to `jkt` if given.
fn token(stack: &Stack, jkt: Option<&str>) -> String {
    confirmed_token(stack, jkt.map(|jkt| json!({ "jkt": jkt })))
}

/// An access token of the auth server's key with this `cnf` claim, if any.
fn confirmed_token(stack: &Stack, cnf: Option<Value>) -> String {
    let now = stack.auth.state.clock.now();
    let key = stack
        .auth
        .state
        .keys
        .signer(Algorithm::Es256, now)
        .expect("active key");
    let mut claims = json!({"iss": stack.auth.base_url, "sub": "svc", "aud": "api", "exp": now + 300,
        "iat": now, "jti": format!("t-{}", JTI.fetch_add(1, Ordering::Relaxed)), "client_id": "svc", "scope": "read"});
    if let Some(cnf) = cnf {
        claims["cnf"] = cnf;
    }
    TokenForge::new(key, claims, stack.auth.state.keys.jwks(now), now).valid()
}

/// `GET <gateway><path>` with `Authorization: <scheme> <token>` and these DPoP proofs.
async fn call(
    stack: &Stack,
    path: &str,
    (scheme, token): (&str, &str),
    proofs: &[&str],
    extra: &[(&str, &str)],
) -> (u16, String, Value) {
    let mut request = reqwest::Client::new()
        .get(format!("{}{path}", stack.base))
        .header("authorization", format!("{scheme} {token}"));
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("gateway request");
    let status = response.status().as_u16();
    let challenge = challenge(&response);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

fn refused_as(result: &(u16, String, Value), error: &str, what: &str) {
    let (status, challenge, body) = result;
    assert_eq!(*status, 401, "{what}: {body}");
    assert_eq!(body["error"], error, "{what}: {body}");
    assert!(
        challenge.starts_with(&format!("DPoP error=\"{error}\"")) && challenge.contains("algs="),
        "{what}: {challenge}"
    );
}

#[tokio::test]
async fn a_bound_token_passes_only_with_a_fresh_proof_of_its_key_for_this_request() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut strict = route("strict", "/strict", upstream);
        strict.require_dpop = true;
        config.routes.push(strict);
    })
    .await;
    let key = DpopKey::new();
    let bound = token(&stack, Some(&key.jkt()));
    let url = format!("{}/api/x", stack.base);
    let proof = key.sign(&claims(&stack, "GET", &url, &bound));
    let dpop = ("DPoP", bound.as_str());
    assert_eq!(
        call(&stack, "/api/x", dpop, &[&proof], &[]).await.0,
        200,
        "a valid proof"
    );
    refused_as(
        &call(&stack, "/api/x", dpop, &[&proof], &[]).await,
        "invalid_dpop_proof",
        "replay",
    );
    refused_as(
        &call(&stack, "/api/x", ("Bearer", &bound), &[], &[]).await,
        "invalid_token",
        "a bound token as a bearer token, though verified and cached",
    );
    refused_as(
        &call(&stack, "/api/x", dpop, &[], &[]).await,
        "invalid_dpop_proof",
        "no proof",
    );

    let fresh =
        |method: &str, url: &str, token: &str| key.sign(&claims(&stack, method, url, token));
    let mut stale = claims(&stack, "GET", &url, &bound);
    stale["iat"] = json!(stack.auth.state.clock.now() - 600);
    let mut without_ath = claims(&stack, "GET", &url, &bound);
    without_ath.as_object_mut().expect("object").remove("ath");
    let other_key = DpopKey::new();
    let defects = [
        (fresh("POST", &url, &bound), "another method"),
        (
            fresh("GET", &format!("{}/api/y", stack.base), &bound),
            "another URL",
        ),
        (
            fresh("GET", "http://elsewhere.example/api/x", &bound),
            "another host",
        ),
        (fresh("GET", &url, "another-token"), "another token's ath"),
        (key.sign(&stale), "a stale iat"),
        (key.sign(&without_ath), "no ath"),
        (
            other_key.sign(&claims(&stack, "GET", &url, &bound)),
            "another key",
        ),
        ("not.a.proof".to_owned(), "garbage"),
        (
            {
                // §4.3 (5): a symmetric algorithm, its key in the header.
                let secret = b"a shared secret of thirty-two bytes";
                let header = json!({"typ": "dpop+jwt", "alg": "HS256",
                    "jwk": {"kty": "oct", "k": portcullis_jose::base64url::encode(secret)}});
                DpopKey::sign_with_header(
                    &header,
                    &claims(&stack, "GET", &url, &bound),
                    jsonwebtoken::Algorithm::HS256,
                    &jsonwebtoken::EncodingKey::from_secret(secret),
                )
            },
            "a symmetric alg",
        ),
        (
            {
                // §4.3 (6): the header's key carries its private part.
                let mut header = key.header();
                header["jwk"]["d"] = json!("jpsQnnGQmL-YBIffH1136cLYkq8qeO8V4lLlVSg0LB0");
                DpopKey::sign_with_header(
                    &header,
                    &claims(&stack, "GET", &url, &bound),
                    jsonwebtoken::Algorithm::ES256,
                    key.encoding_key(),
                )
            },
            "a private key in the header",
        ),
        (
            {
                let mut header = key.header();
                header["typ"] = json!("JWT");
                DpopKey::sign_with_header(
                    &header,
                    &claims(&stack, "GET", &url, &bound),
                    jsonwebtoken::Algorithm::ES256,
                    key.encoding_key(),
                )
            },
            "typ not dpop+jwt",
        ),
    ];
    for (proof, what) in &defects {
        refused_as(
            &call(&stack, "/api/x", dpop, &[proof], &[]).await,
            "invalid_dpop_proof",
            what,
        );
    }
    let (one, two) = (fresh("GET", &url, &bound), fresh("GET", &url, &bound));
    refused_as(
        &call(&stack, "/api/x", dpop, &[&one, &two], &[]).await,
        "invalid_dpop_proof",
        "two proofs",
    );

    // The request's own URL is proved, not one a client makes up: a Host that carries a path,
    // forwarded headers from a peer that is no trusted proxy.
    let elsewhere = key.sign(&claims(
        &stack,
        "GET",
        "http://elsewhere.example/any",
        &bound,
    ));
    refused_as(
        &call(
            &stack,
            "/api/x",
            dpop,
            &[&elsewhere],
            &[("host", "elsewhere.example/any?")],
        )
        .await,
        "invalid_dpop_proof",
        "a Host with a path",
    );
    let public = key.sign(&claims(
        &stack,
        "GET",
        "https://api.example.com/api/x",
        &bound,
    ));
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "api.example.com"),
    ];
    refused_as(
        &call(&stack, "/api/x", dpop, &[&public], &forwarded).await,
        "invalid_dpop_proof",
        "forwarded headers of an untrusted peer",
    );
    // A binding the gateway cannot check (a certificate's) is never a bearer token.
    let certificate_bound = confirmed_token(&stack, Some(json!({ "x5t#S256": "abc" })));
    refused_as(
        &call(&stack, "/api/x", ("Bearer", &certificate_bound), &[], &[]).await,
        "invalid_token",
        "a certificate-bound token",
    );

    let unbound = token(&stack, None);
    refused_as(
        &call(
            &stack,
            "/api/x",
            ("DPoP", &unbound),
            &[&fresh("GET", &url, &unbound)],
            &[],
        )
        .await,
        "invalid_token",
        "an unbound token as DPoP",
    );
    assert_eq!(
        call(&stack, "/api/x", ("Bearer", &unbound), &[], &[])
            .await
            .0,
        200,
        "bearer as before"
    );
    refused_as(
        &call(&stack, "/strict/x", ("Bearer", &unbound), &[], &[]).await,
        "invalid_token",
        "a route that requires DPoP",
    );
    let strict_url = format!("{}/strict/x", stack.base);
    let (status, _, _) = call(
        &stack,
        "/strict/x",
        dpop,
        &[&fresh("GET", &strict_url, &bound)],
        &[],
    )
    .await;
    assert_eq!(
        status, 200,
        "a bound token with its proof on the strict route"
    );
    stack.stop().await;
}

#[tokio::test]
async fn with_a_public_url_that_origin_alone_is_proved() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.public_url = Some("HTTPS://api.example.com:443".into());
        config.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let key = DpopKey::new();
    let bound = token(&stack, Some(&key.jkt()));
    let proof = key.sign(&claims(
        &stack,
        "GET",
        "https://api.example.com/api/x",
        &bound,
    ));
    let (status, _, body) = call(&stack, "/api/x", ("DPoP", &bound), &[&proof], &[]).await;
    assert_eq!(status, 200, "whatever the Host: {body}");
    let forwarded = [("x-forwarded-host", "evil.example")];
    let for_evil = key.sign(&claims(&stack, "GET", "http://evil.example/api/x", &bound));
    refused_as(
        &call(&stack, "/api/x", ("DPoP", &bound), &[&for_evil], &forwarded).await,
        "invalid_dpop_proof",
        "even a trusted proxy's forwarded host does not replace the public origin",
    );
    stack.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_url_is_the_one_proved() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let key = DpopKey::new();
    let bound = token(&stack, Some(&key.jkt()));
    let public = "https://api.example.com/api/x";
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "API.example.com"),
    ];
    let proof = key.sign(&claims(&stack, "GET", public, &bound));
    let (status, _, body) = call(&stack, "/api/x", ("DPoP", &bound), &[&proof], &forwarded).await;
    assert_eq!(status, 200, "{body}");
    let direct = key.sign(&claims(&stack, "GET", public, &bound));
    refused_as(
        &call(&stack, "/api/x", ("DPoP", &bound), &[&direct], &[]).await,
        "invalid_dpop_proof",
        "without the proxy's headers the request's own URL is another",
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_token_bound_at_the_token_endpoint_works_at_the_gateway_only_with_its_proofs() {
    let stack = stack(TestOptions::default(), |_, _| {}).await;
    let key = DpopKey::new();
    let now = stack.auth.state.clock.now();
    let proof = key.proof("POST", &stack.auth.url("/token"), now, None);
    let response: Value = stack
        .http
        .post(stack.auth.url("/token"))
        .basic_auth("svc", Some(&stack.secret))
        .header("dpop", proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(response["token_type"], "DPoP", "{response}");
    let bound = response["access_token"].as_str().expect("token").to_owned();
    let url = format!("{}/api/x", stack.base);
    let with_proof = key.proof("GET", &url, now, Some(&bound));
    assert_eq!(
        call(&stack, "/api/x", ("DPoP", &bound), &[&with_proof], &[])
            .await
            .0,
        200
    );
    refused_as(
        &call(&stack, "/api/x", ("Bearer", &bound), &[], &[]).await,
        "invalid_token",
        "the stolen token alone",
    );
    let thief = DpopKey::new();
    refused_as(
        &call(
            &stack,
            "/api/x",
            ("DPoP", &bound),
            &[&thief.proof("GET", &url, now, Some(&bound))],
            &[],
        )
        .await,
        "invalid_dpop_proof",
        "the stolen token with the thief's own key",
    );
    stack.stop().await;
}

#[tokio::test]
async fn with_nonces_required_a_proof_needs_the_gateways_current_nonce() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.dpop_nonce = true;
        config.dpop_nonce_secret = Some(portcullis_gateway::config::NonceSecret(
            "shared by the fleet".into(),
        ));
    })
    .await;
    let key = DpopKey::new();
    let bound = token(&stack, Some(&key.jkt()));
    let url = format!("{}/api/x", stack.base);
    let without = key.sign(&claims(&stack, "GET", &url, &bound));
    let response = reqwest::Client::new()
        .get(&url)
        .header("authorization", format!("DPoP {bound}"))
        .header("dpop", without)
        .send()
        .await
        .expect("gateway request");
    assert_eq!(response.status(), 401);
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .and_then(|value| value.to_str().ok())
        .expect("RFC 9449 §9: the nonce to use comes with the challenge")
        .to_owned();
    let challenge = challenge(&response);
    assert!(
        challenge.starts_with("DPoP error=\"use_dpop_nonce\""),
        "{challenge}"
    );

    let mut with_nonce = claims(&stack, "GET", &url, &bound);
    with_nonce["nonce"] = nonce.clone().into();
    let result = call(
        &stack,
        "/api/x",
        ("DPoP", &bound),
        &[&key.sign(&with_nonce)],
        &[],
    )
    .await;
    assert_eq!(result.0, 200, "{:?}", result.2);

    let mut forged = claims(&stack, "GET", &url, &bound);
    forged["nonce"] = format!("{nonce}x").into();
    let result = call(
        &stack,
        "/api/x",
        ("DPoP", &bound),
        &[&key.sign(&forged)],
        &[],
    )
    .await;
    refused_as(&result, "use_dpop_nonce", "a forged nonce");
}
