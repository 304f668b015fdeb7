//! DPoP at the token endpoint (RFC 9449 §5), with proofs made by an independent implementation
//! (`portcullis_testkit::dpop`): a valid proof binds the access token (`cnf.jkt`, `token_type:
//! DPoP`) and a public client's refresh tokens, which then refresh only with a proof of the same
//! key; every defective, repeated or replayed proof is a 400 `invalid_dpop_proof`; discovery says
//! which algorithms proofs may use.

use super::browser::{APP, Browser, CALLBACK, app_client, authorize, authorize_url, query_param};
use super::support::{automation, claims_of, discovery, http, service_client};
use portcullis_testkit::TestAuthServer;
use portcullis_testkit::dpop::DpopKey;
use serde_json::Value;

/// A token request to `server` with these DPoP proofs; the status and body.
async fn token_request(
    server: &TestAuthServer,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, Value) {
    let mut request = http().post(server.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    let response = request.send().await.expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn a_proof_binds_the_token_and_every_defect_is_invalid_dpop_proof() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let basic = Some(("svc", secret.as_str()));
    let grant = [("grant_type", "client_credentials")];
    let key = DpopKey::new();
    let now = server.now();
    let token_url = server.url("/token");

    let discovery = discovery(&server).await;
    assert_eq!(
        discovery["dpop_signing_alg_values_supported"],
        serde_json::json!(["ES256", "EdDSA", "RS256"])
    );

    let proof = key.proof("POST", &token_url, now, None);
    let (status, bound) = token_request(&server, basic, &grant, &[&proof]).await;
    assert_eq!(status, 200, "{bound}");
    assert_eq!(bound["token_type"], "DPoP");
    let claims = claims_of(bound["access_token"].as_str().expect("token"));
    assert_eq!(claims["cnf"]["jkt"], key.jkt(), "bound to the proof's key");
    let (status, plain) = token_request(&server, basic, &grant, &[]).await;
    assert_eq!(
        (status, plain["token_type"].as_str()),
        (200, Some("Bearer"))
    );
    assert!(claims_of(plain["access_token"].as_str().expect("token"))["cnf"].is_null());

    let mut stale = DpopKey::claims("POST", &token_url, now - 600, None);
    stale["jti"] = "stale-one".into();
    let defects = [
        (proof.clone(), "a replayed proof"),
        (key.proof("GET", &token_url, now, None), "another method"),
        (
            key.proof("POST", &server.url("/revoke"), now, None),
            "another URL",
        ),
        (key.sign(&stale), "a stale iat"),
        ("a.b.c".to_owned(), "garbage"),
    ];
    for (proof, what) in &defects {
        let (status, body) = token_request(&server, basic, &grant, &[proof]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_dpop_proof")),
            "{what}: {body}"
        );
    }
    let (one, two) = (
        key.proof("POST", &token_url, now, None),
        key.proof("POST", &token_url, now, None),
    );
    let (status, body) = token_request(&server, basic, &grant, &[&one, &two]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "two proofs"
    );
}

#[tokio::test]
async fn the_auth_servers_own_endpoints_refuse_a_bound_token_as_a_bearer_token() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server
        .add_client(automation("ops", "portcullis:admin", &server.base_url))
        .await;
    let secret = secret.expect("secret");
    let form = [
        ("grant_type", "client_credentials"),
        ("audience", server.base_url.as_str()),
    ];
    let key = DpopKey::new();
    let proof = key.proof("POST", &server.url("/token"), server.now(), None);
    let (status, bound) = token_request(&server, Some(("ops", &secret)), &form, &[&proof]).await;
    assert_eq!(
        (status, bound["token_type"].as_str()),
        (200, Some("DPoP")),
        "{bound}"
    );
    let token = bound["access_token"].as_str().expect("token");
    let admin = http()
        .get(format!("{}/admin/v1/users", server.admin_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("admin API");
    assert_eq!(admin.status(), 401, "RFC 9449 §7.2: not a bearer token");
    let (status, plain) = token_request(&server, Some(("ops", &secret)), &form, &[]).await;
    assert_eq!(status, 200);
    let admin = http()
        .get(format!("{}/admin/v1/users", server.admin_url))
        .bearer_auth(plain["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("admin API");
    assert_eq!(admin.status(), 200, "the same client's bearer token works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_clients_refresh_tokens_are_bound_to_its_key() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    server
        .add_user("alice", &["user"], super::browser::PASSWORD)
        .await;
    let (verifier, challenge) = portcullis_testkit::browser::pkce_pair();
    let callback = authorize(
        &Browser::new(),
        &server,
        &authorize_url(&server, "openid offline_access", &challenge, &[]),
        "alice",
    )
    .await;
    let code = query_param(&callback, "code").expect("code");
    let key = DpopKey::new();
    let token_url = server.url("/token");
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", CALLBACK),
        ("client_id", APP),
        ("code_verifier", verifier.as_str()),
    ];
    let proof = key.proof("POST", &token_url, server.now(), None);
    let (status, tokens) = token_request(&server, None, &exchange, &[&proof]).await;
    assert_eq!(
        (status, tokens["token_type"].as_str()),
        (200, Some("DPoP")),
        "{tokens}"
    );
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", APP),
    ];
    let (status, body) = token_request(&server, None, &refresh, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "no proof"
    );
    let thief = DpopKey::new();
    let stolen = thief.proof("POST", &token_url, server.now(), None);
    let (status, body) = token_request(&server, None, &refresh, &[&stolen]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "another key"
    );
    let proof = key.proof("POST", &token_url, server.now(), None);
    let (status, refreshed) = token_request(&server, None, &refresh, &[&proof]).await;
    assert_eq!(
        status, 200,
        "the refresh token was not used up by the refused tries: {refreshed}"
    );
    assert_eq!(refreshed["token_type"], "DPoP");
    let claims = claims_of(refreshed["access_token"].as_str().expect("token"));
    assert_eq!(claims["cnf"]["jkt"], key.jkt());
}

#[tokio::test]
async fn a_client_registered_for_dpop_cannot_get_a_bearer_token() {
    let server = TestAuthServer::start().await;
    let registration = portcullis_core::ClientRegistration {
        dpop_bound_access_tokens: true,
        ..service_client("bound-svc")
    };
    let (_, secret) = server.add_client(registration).await;
    let secret = secret.expect("secret");
    let basic = Some(("bound-svc", secret.as_str()));
    let grant = [("grant_type", "client_credentials")];
    let (status, body) = token_request(&server, basic, &grant, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_dpop_proof")),
        "without a proof: {body}"
    );
    let proof = DpopKey::new().proof("POST", &server.url("/token"), server.now(), None);
    let (status, body) = token_request(&server, basic, &grant, &[&proof]).await;
    assert_eq!(
        (status, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{body}"
    );
}

#[tokio::test]
async fn with_nonces_required_the_token_endpoint_hands_one_out_and_wants_it_back() {
    let server = TestAuthServer::start_with(portcullis_testkit::TestOptions {
        dpop_nonce: true,
        ..portcullis_testkit::TestOptions::default()
    })
    .await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let key = DpopKey::new();
    let token_url = server.url("/token");
    let send = |proof: String| {
        http()
            .post(server.url("/token"))
            .basic_auth("svc", Some(secret.clone()))
            .form(&[("grant_type", "client_credentials")])
            .header("dpop", proof)
            .send()
    };
    let response = send(key.proof("POST", &token_url, server.now(), None))
        .await
        .expect("token request");
    assert_eq!(response.status(), 400);
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .and_then(|value| value.to_str().ok())
        .expect("RFC 9449 §8: the nonce comes with the error")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "use_dpop_nonce");

    let mut claims = DpopKey::claims("POST", &token_url, server.now(), None);
    claims["nonce"] = nonce.clone().into();
    let response = send(key.sign(&claims)).await.expect("token request");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().contains_key("dpop-nonce"),
        "the next nonce is handed out too"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "DPoP");

    let mut stale = DpopKey::claims("POST", &token_url, server.now(), None);
    stale["nonce"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    let response = send(key.sign(&stale)).await.expect("token request");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["error"], "use_dpop_nonce",
        "a nonce the server never issued"
    );
}
