//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9), with keys and
//! assertions made by an independent implementation (`portcullis_testkit::client_key`): a client
//! registered with keys (by value, or at a `jwks_uri` served on loopback) gets tokens with a
//! signed assertion, and a replayed, expired, misaddressed or foreign-key assertion, or a secret,
//! is `invalid_client` with the cause in the audit log. With the SSRF guard on, a `jwks_uri` on
//! loopback is never fetched.

use super::support::{audit_details, discovery, http, service_client};
use portcullis_core::{ClientKeys, ClientRegistration};
use portcullis_testkit::client_key::ClientKey;
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::Value;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A client-credentials request authenticated by `assertion`; the status and body.
async fn token_with(server: &TestAuthServer, assertion: &str) -> (u16, Value) {
    let response = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn keyed_client(id: &str, keys: ClientKeys) -> ClientRegistration {
    ClientRegistration {
        keys: Some(keys),
        ..service_client(id)
    }
}

/// Serves `jwks` at `http://127.0.0.1:<port>/jwks`, counting the fetches.
async fn serve_jwks(jwks: Value) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let fetches = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, fetches)
}

#[tokio::test]
async fn a_signed_assertion_authenticates_and_every_defect_is_invalid_client() {
    let server = TestAuthServer::start().await;
    let key = ClientKey::new("k1");
    let keys = ClientKeys::inline_from_json(&key.jwks().to_string()).expect("public keys");
    let (client, secret) = server.add_client(keyed_client("signer", keys)).await;
    assert_eq!(secret, None, "a client with keys gets no secret");
    assert_eq!(client.authentication_method().as_str(), "private_key_jwt");
    let now = server.now();
    let issuer = server.base_url.clone();

    let good = key.sign(&ClientKey::claims("signer", &issuer, now, 60));
    let (status, body) = token_with(&server, &good).await;
    assert_eq!(status, 200, "{body}");
    let issuer_audience = key.sign(&ClientKey::claims("signer", &server.base_url, now, 60));
    assert_eq!(
        token_with(&server, &issuer_audience).await.0,
        200,
        "the issuer as aud"
    );

    let mut other_subject = ClientKey::claims("signer", &issuer, now, 60);
    other_subject["iss"] = "someone-else".into();
    // A request object (RFC 9101) seen in a browser's address bar, with the claims of an
    // assertion, is still not one.
    let mut request_object = ClientKey::claims("signer", &issuer, now, 60);
    request_object["response_type"] = "code".into();
    request_object["client_id"] = "signer".into();
    let defects = [
        (good.clone(), "a replayed assertion", "used before"),
        (
            key.sign(&ClientKey::claims("signer", &issuer, now - 600, 60)),
            "an expired assertion",
            "expired",
        ),
        (
            key.sign(&ClientKey::claims(
                "signer",
                "https://elsewhere.example/token",
                now,
                60,
            )),
            "another audience",
            "aud",
        ),
        (
            key.sign(&ClientKey::claims("signer", &issuer, now, 7200)),
            "an assertion living two hours",
            "an hour",
        ),
        (
            key.sign(&other_subject),
            "iss not the client",
            "iss and sub",
        ),
        (
            key.sign(&request_object),
            "a request object",
            "request object",
        ),
        (
            ClientKey::new("k1").sign(&ClientKey::claims("signer", &issuer, now, 60)),
            "another key under the same kid",
            "signature",
        ),
    ];
    for (assertion, what, _) in &defects {
        let (status, body) = token_with(&server, assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    let reasons = audit_details(&server, "client_authentication_failed").await;
    for (_, what, reason) in &defects {
        assert!(
            reasons.iter().any(|detail| detail.contains(reason)),
            "{what} audited with `{reason}`: {reasons:?}"
        );
    }

    let with_secret = http()
        .post(server.url("/token"))
        .basic_auth("signer", Some("guessed"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token request");
    assert_eq!(
        with_secret.status(),
        401,
        "a keyed client has no secret to present"
    );
    let mixed = http()
        .post(server.url("/token"))
        .basic_auth("signer", Some("guessed"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            (
                "client_assertion",
                &key.sign(&ClientKey::claims("signer", &issuer, now, 60)),
            ),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(
        mixed.status(),
        400,
        "two methods at once are invalid_request"
    );

    let (_, secret) = server.add_client(service_client("plain")).await;
    assert!(secret.is_some());
    let claimed = key.sign(&ClientKey::claims("plain", &issuer, now, 60));
    assert_eq!(
        token_with(&server, &claimed).await.0,
        401,
        "a secret client cannot switch to assertions"
    );

    let discovery = discovery(&server).await;
    assert!(
        discovery["token_endpoint_auth_methods_supported"]
            .as_array()
            .expect("methods")
            .contains(&"private_key_jwt".into())
    );
    assert_eq!(
        discovery["token_endpoint_auth_signing_alg_values_supported"],
        serde_json::json!(["ES256", "EdDSA", "RS256"])
    );
}

#[tokio::test]
async fn keys_at_a_jwks_uri_are_fetched_once_and_loopback_is_refused_by_default() {
    let key = ClientKey::new("remote-1");
    let (jwks_uri, fetches) = serve_jwks(key.jwks()).await;

    let server = TestAuthServer::start().await;
    let keys = ClientKeys::remote(&jwks_uri).expect("loopback http is a valid jwks_uri");
    server
        .add_client(keyed_client("remote", keys.clone()))
        .await;
    for _ in 0..3 {
        let assertion = key.sign(&ClientKey::claims(
            "remote",
            &server.base_url,
            server.now(),
            60,
        ));
        let (status, body) = token_with(&server, &assertion).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the key set is cached"
    );

    let guarded = TestAuthServer::start_with(TestOptions {
        outbound_private_networks: false,
        ..TestOptions::default()
    })
    .await;
    guarded.add_client(keyed_client("remote", keys)).await;
    let assertion = key.sign(&ClientKey::claims(
        "remote",
        &guarded.base_url,
        guarded.now(),
        60,
    ));
    let (status, body) = token_with(&guarded, &assertion).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the guarded server never reached the loopback URL"
    );
    let reasons = audit_details(&guarded, "client_authentication_failed").await;
    assert!(
        reasons.iter().any(|detail| detail.contains("refused URL")),
        "{reasons:?}"
    );
}
