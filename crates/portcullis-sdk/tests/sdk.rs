//! The SDK in a real axum service, against a real auth server.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use axum::Router;
use axum::routing::get;
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_sdk::{AuthError, Identity, Verifier};
use portcullis_testkit::TestAuthServer;
use portcullis_types::GrantType;
use serde_json::Value;
use std::sync::Arc;

async fn me(identity: Identity) -> String {
    format!("hello {}", identity.subject)
}

async fn products(identity: Identity) -> Result<&'static str, AuthError> {
    identity.require_any_scope(&["products:read", "products:write"])?;
    Ok("products")
}

async fn admin(identity: Identity) -> Result<&'static str, AuthError> {
    identity.require_role("admin")?;
    Ok("admin")
}

async fn serve(verifier: Verifier) -> String {
    let app = Router::new()
        .route("/me", get(me))
        .route("/products", get(products))
        .route("/admin", get(admin))
        .with_state(Arc::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

async fn token(server: &TestAuthServer, secret: &str, scope: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("svc", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// The confidential client `svc` with these scopes, for audience `api`.
fn service(scopes: &[&str]) -> ClientRegistration {
    ClientRegistration {
        id: "svc".into(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![],
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        audiences: vec!["api".into()],
        access_token_lifetime_secs: None,
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_algorithm: None,
        keys: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        require_mfa: false,
        require_pushed_authorization_requests: false,
        client_name: None,
        request_uris: Vec::new(),
        request_object_signing_alg: None,
    }
}

fn header(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn verifying_mode_checks_tokens_and_ignores_forged_headers() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server
        .add_client(service(&["products:read", "other"]))
        .await;
    let secret = secret.expect("secret");
    let base = serve(
        Verifier::for_issuer(&server.base_url, Some("api"))
            .await
            .expect("verifier"),
    )
    .await;
    let http = reqwest::Client::new();

    let valid = token(&server, &secret, "products:read").await;
    let me = http
        .get(format!("{base}/me"))
        .bearer_auth(&valid)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    assert_eq!(me.text().await.expect("text"), "hello svc");
    assert_eq!(
        http.get(format!("{base}/products"))
            .bearer_auth(&valid)
            .send()
            .await
            .expect("products")
            .status(),
        200
    );

    let forged = http
        .get(format!("{base}/me"))
        .header("X-Portcullis-Subject", "admin")
        .header("X-Portcullis-Roles", "admin")
        .send()
        .await
        .expect("forged");
    assert_eq!(
        forged.status(),
        401,
        "forged gateway headers without a token are refused"
    );
    assert_eq!(header(&forged), "Bearer realm=\"portcullis\"");

    let mut tampered = valid.clone();
    tampered.pop();
    tampered.push(if valid.ends_with('A') { 'B' } else { 'A' });
    let invalid = http
        .get(format!("{base}/me"))
        .bearer_auth(&tampered)
        .send()
        .await
        .expect("invalid");
    assert_eq!(invalid.status(), 401);
    assert!(header(&invalid).contains("error=\"invalid_token\""));

    let narrow = token(&server, &secret, "other").await;
    let no_scope = http
        .get(format!("{base}/products"))
        .bearer_auth(&narrow)
        .send()
        .await
        .expect("products");
    assert_eq!(no_scope.status(), 403);
    assert_eq!(
        header(&no_scope),
        "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"products:read products:write\""
    );
    assert_eq!(
        http.get(format!("{base}/admin"))
            .bearer_auth(&valid)
            .send()
            .await
            .expect("admin")
            .status(),
        403
    );
}

#[tokio::test]
async fn trusted_header_mode_and_an_unreachable_issuer() {
    let trusting = serve(Verifier::trust_gateway_headers()).await;
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{trusting}/admin"))
        .header("X-Portcullis-Subject", "u1")
        .header("X-Portcullis-Roles", "admin,user")
        .send()
        .await
        .expect("admin");
    assert_eq!(
        response.status(),
        200,
        "trusted mode believes the gateway's headers"
    );
    assert_eq!(
        http.get(format!("{trusting}/me"))
            .send()
            .await
            .expect("me")
            .status(),
        401
    );

    let unreachable = serve(
        Verifier::for_issuer("http://127.0.0.1:9", None)
            .await
            .expect("verifier"),
    )
    .await;
    let response = http
        .get(format!("{unreachable}/me"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .expect("me");
    assert_eq!(
        response.status(),
        503,
        "no keys is the service's problem, not the caller's"
    );
}

#[tokio::test]
async fn the_layer_guards_every_route_and_hands_the_identity_on() {
    use axum::Extension;
    use portcullis_sdk::RequireIdentityLayer;
    let verifier = Arc::new(Verifier::trust_gateway_headers());
    let app = Router::new()
        .route(
            "/who",
            get(|Extension(identity): Extension<Identity>| async move { identity.subject }),
        )
        .route("/me", get(me))
        .layer(RequireIdentityLayer::new(verifier.clone()))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = reqwest::Client::new();
    let refused = http.get(format!("{base}/who")).send().await.expect("who");
    assert_eq!(refused.status(), 401);
    assert_eq!(header(&refused), "Bearer realm=\"portcullis\"");
    for path in ["/who", "/me"] {
        let response = http
            .get(format!("{base}{path}"))
            .header("X-Portcullis-Subject", "u7")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.text().await.expect("text").contains("u7"));
    }
}

/// The hostile-token corpus against a service using the SDK: every token is refused with 401 and
/// the handler never runs.
#[tokio::test]
async fn every_hostile_token_is_refused_by_the_extractor() {
    let server = TestAuthServer::start().await;
    let now = server.now();
    let key = server
        .state
        .keys
        .signer(portcullis_jose::Algorithm::Es256, now)
        .expect("active key");
    let claims = serde_json::json!({
        "iss": server.base_url, "sub": "svc", "aud": "api", "exp": now + 300, "iat": now,
        "jti": "j-1", "client_id": "svc", "scope": "read"
    });
    let forge =
        portcullis_testkit::hostile::TokenForge::new(key, claims, server.state.keys.jwks(now), now);
    let verifier = Verifier::for_issuer(&server.base_url, Some("api"))
        .await
        .expect("verifier");
    let base = serve(verifier).await;
    let http = reqwest::Client::new();
    let call = async |token: &str| {
        http.get(format!("{base}/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    };
    let baseline = call(&forge.valid()).await;
    assert_eq!(baseline.status(), 200, "the baseline token passes");
    for (defect, token) in forge.corpus() {
        let response = call(&token).await;
        // An empty credential is a malformed request (400 invalid_request, RFC 6750 §3.1).
        let expected = if token.is_empty() { 400 } else { 401 };
        assert_eq!(response.status(), expected, "{defect}");
        assert_ne!(
            response.text().await.expect("body"),
            "hello svc",
            "{defect}: the handler ran"
        );
    }
    // A token bound to a key (RFC 9449) is no bearer token: without its proof it is refused.
    let bound = portcullis_testkit::hostile::TokenForge::new(
        server
            .state
            .keys
            .signer(portcullis_jose::Algorithm::Es256, now)
            .expect("key"),
        serde_json::json!({
            "iss": server.base_url, "sub": "svc", "aud": "api", "exp": now + 300, "iat": now,
            "jti": "j-2", "client_id": "svc", "scope": "read", "cnf": {"jkt": "some-key"}
        }),
        server.state.keys.jwks(now),
        now,
    )
    .valid();
    assert_eq!(
        call(&bound).await.status(),
        401,
        "a DPoP-bound token as a bearer token"
    );
}

/// A DPoP-bound token reaches an SDK-verified service only with a fresh proof of its key for
/// that exact request; a thief holding the token alone, or replaying a proof, is refused
/// (RFC 9449 §7), and the challenge says DPoP.
#[tokio::test]
async fn a_bound_token_needs_a_fresh_proof_of_its_key_for_this_request() {
    use portcullis_testkit::dpop::DpopKey;
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service(&["products:read"])).await;
    let secret = secret.expect("secret");
    let key = DpopKey::new();
    let body: Value = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("svc", Some(&secret))
        .header(
            "dpop",
            key.proof("POST", &server.url("/token"), server.now(), None),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let bound = body["access_token"].as_str().expect("token").to_owned();
    let public = "https://api.example";
    let base = serve(
        Verifier::for_issuer(&server.base_url, Some("api"))
            .await
            .expect("verifier")
            .with_public_url(public),
    )
    .await;
    let http = reqwest::Client::new();
    let call = |scheme: &'static str, proof: Option<String>| {
        let mut request = http
            .get(format!("{base}/products"))
            .header("authorization", format!("{scheme} {bound}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let url = format!("{public}/products");
    let proof = key.proof("GET", &url, server.now(), Some(&bound));
    let ok = call("DPoP", Some(proof.clone())).await.expect("call");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.expect("body"), "products");

    let thief = DpopKey::new();
    let refusals = [
        (
            "Bearer",
            None,
            "the stolen token alone, as a bearer token",
            "invalid_token",
        ),
        ("DPoP", None, "no proof", "invalid_dpop_proof"),
        (
            "DPoP",
            Some(proof),
            "a replayed proof",
            "invalid_dpop_proof",
        ),
        (
            "DPoP",
            Some(thief.proof("GET", &url, server.now(), Some(&bound))),
            "a proof of another key",
            "invalid_dpop_proof",
        ),
        (
            "DPoP",
            Some(key.proof("POST", &url, server.now(), Some(&bound))),
            "a proof for another method",
            "invalid_dpop_proof",
        ),
        (
            "DPoP",
            Some(key.proof(
                "GET",
                &format!("{public}/admin"),
                server.now(),
                Some(&bound),
            )),
            "a proof for another URL",
            "invalid_dpop_proof",
        ),
        (
            "DPoP",
            Some(key.proof("GET", &url, server.now(), None)),
            "a proof without ath",
            "invalid_dpop_proof",
        ),
    ];
    for (scheme, proof, what, error) in refusals {
        let response = call(scheme, proof).await.expect("call");
        assert_eq!(response.status(), 401, "{what}");
        let challenge = header(&response);
        assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{what}: {challenge}"
        );
        if error == "invalid_dpop_proof" {
            assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
        }
    }

    let unbound = token(&server, &secret, "products:read").await;
    let as_dpop = http
        .get(format!("{base}/products"))
        .header("authorization", format!("DPoP {unbound}"))
        .header("dpop", key.proof("GET", &url, server.now(), Some(&unbound)))
        .send()
        .await
        .expect("call");
    assert_eq!(as_dpop.status(), 401, "an unbound token sent as DPoP");
}
