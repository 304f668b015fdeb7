//! Dynamic client registration (RFC 7591) and its management (RFC 7592) end to end: a public
//! client registers itself, signs a user in with PKCE (the consent page names it as its own
//! claim) and reads, replaces and deletes its registration with its registration access token;
//! the endpoint is off by default, bounded by the policy, rate limited per network, capped in
//! total, and in `token` mode takes only an initial access token.

use super::browser::{Browser, PASSWORD};
use super::support::{
    allow, audit_records, automation, consent_page, discovery, http, pkce_authorize_query,
    token_with_basic,
};
use portcullis_core::client_metadata::{DynamicRegistrationMode, DynamicRegistrationPolicy};
use portcullis_testkit::browser::pkce_pair;
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::{Value, json};

const CALLBACK: &str = "http://127.0.0.1/callback";

async fn with_registration(policy: DynamicRegistrationPolicy) -> TestAuthServer {
    TestAuthServer::start_with(TestOptions {
        client_registration: policy,
        ..TestOptions::default()
    })
    .await
}

fn open() -> DynamicRegistrationPolicy {
    DynamicRegistrationPolicy {
        mode: DynamicRegistrationMode::Open,
        audiences: vec!["https://mcp.example/mcp".into()],
        ..DynamicRegistrationPolicy::default()
    }
}

fn agent() -> Value {
    json!({
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": "openid offline_access",
        "client_name": "Agent <b>",
    })
}

async fn register(server: &TestAuthServer, metadata: &Value, token: Option<&str>) -> (u16, Value) {
    let mut request = http().post(server.url("/oauth/register")).json(metadata);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("register");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_registers_itself_signs_a_user_in_and_manages_its_registration() {
    let server = with_registration(open()).await;
    server.add_user("erin", &["user"], PASSWORD).await;
    assert_eq!(
        discovery(&server).await["registration_endpoint"],
        server.url("/oauth/register")
    );

    let (status, registered) = register(&server, &agent(), None).await;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"].as_str().expect("client_id");
    assert!(
        client_id.starts_with("dyn-") && client_id.len() > 20,
        "{client_id}"
    );
    assert!(
        registered.get("client_secret").is_none(),
        "a public client has no secret"
    );
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    assert_eq!(registered["redirect_uris"], json!([CALLBACK]));
    assert_eq!(registered["scope"], "offline_access openid");
    let token = registered["registration_access_token"]
        .as_str()
        .expect("registration_access_token")
        .to_owned();
    let uri = registered["registration_client_uri"]
        .as_str()
        .expect("registration_client_uri")
        .to_owned();
    assert_eq!(uri, server.url(&format!("/oauth/register/{client_id}")));

    // It signs a user in with PKCE; the consent page names it by its own, escaped, claim.
    let (verifier, challenge) = pkce_pair();
    let query = pkce_authorize_query(
        client_id,
        "http://127.0.0.1:43110/callback",
        "openid offline_access",
        &challenge,
    );
    let browser = Browser::new();
    let consent = consent_page(&browser, &server, &query, "erin").await;
    assert!(
        consent.contains("Agent &lt;b&gt; (a name the application gave itself)"),
        "{consent}"
    );
    let code = allow(&browser, &server, &consent).await;
    let tokens = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:43110/callback"),
            ("client_id", client_id),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.expect("json");
    let claims = super::support::claims_of(tokens["access_token"].as_str().expect("access"));
    assert!(
        claims["aud"]
            .as_array()
            .is_some_and(|aud| aud.contains(&Value::from("https://mcp.example/mcp"))),
        "the policy's audience: {claims}"
    );

    // A public client that registered itself is asked about every time (RFC 8252 §8.6): its
    // id could be claimed by any app on the machine.
    let again = browser
        .get(&server.url(&format!("/authorize?{query}")))
        .await;
    assert_eq!(
        again.status(),
        200,
        "the consent page, not a redirect with a code"
    );
    assert!(
        again
            .text()
            .await
            .expect("page")
            .contains("name=\"decision\"")
    );

    // RFC 7592: read with the token; nothing without it or with another.
    let read = |token: Option<String>| {
        let uri = uri.clone();
        async move {
            let mut request = http().get(&uri);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("read");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or_default())
        }
    };
    let (status, current) = read(Some(token.clone())).await;
    assert_eq!(
        (status, &current["client_id"]),
        (200, &Value::from(client_id))
    );
    assert_eq!(read(None).await.0, 401);
    assert_eq!(read(Some("wrong".into())).await.0, 401);

    // An administrator requires a second factor; the client's own update cannot lift it.
    let mut required = server
        .state
        .store
        .find_client(client_id)
        .await
        .expect("find")
        .expect("client");
    required.require_mfa = true;
    assert!(
        server
            .state
            .store
            .update_client(&required)
            .await
            .expect("update")
    );

    // Replace: the request names the client; everything sent is the new registration.
    let mut changed = agent();
    changed["client_name"] = json!("Agent 2");
    let refused = http()
        .put(&uri)
        .bearer_auth(&token)
        .json(&changed)
        .send()
        .await
        .expect("put");
    assert_eq!(refused.status(), 400, "client_id is required in an update");
    changed["client_id"] = json!(client_id);
    let updated: Value = http()
        .put(&uri)
        .bearer_auth(&token)
        .json(&changed)
        .send()
        .await
        .expect("put")
        .json()
        .await
        .expect("json");
    assert_eq!(updated["client_name"], "Agent 2");
    let kept = server
        .state
        .store
        .find_client(client_id)
        .await
        .expect("find")
        .expect("client");
    assert!(kept.require_mfa, "what the administrator set stays");
    assert!(kept.registration_token_hash.is_some());
    changed["token_endpoint_auth_method"] = json!("client_secret_basic");
    let switched = http()
        .put(&uri)
        .bearer_auth(&token)
        .json(&changed)
        .send()
        .await
        .expect("put");
    assert_eq!(
        switched.status(),
        400,
        "a public client cannot become confidential"
    );

    let deleted = http()
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(read(Some(token.clone())).await.0, 401);
    // Its grants ended with it: the access token issued to it is on the revocation list, and
    // its refresh token no longer works.
    let jti = claims["jti"].as_str().expect("jti");
    assert!(
        server
            .state
            .store
            .is_revoked(
                portcullis_core::RevocationKind::TokenId,
                jti,
                server.state.clock.now()
            )
            .await
            .expect("store")
    );
    let refreshed = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("refresh token"),
            ),
            ("client_id", client_id),
        ])
        .send()
        .await
        .expect("refresh");
    assert_eq!(refreshed.status(), 401, "the client is gone");
    let kinds: Vec<String> = audit_records(&server)
        .await
        .into_iter()
        .map(|record| {
            assert!(!record.detail.contains(&token), "no token in the audit log");
            record.kind
        })
        .collect();
    for kind in ["client_self_registered", "client_registration_managed"] {
        assert!(
            kinds.iter().any(|recorded| recorded == kind),
            "{kind}: {kinds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_off_by_default_bounded_by_policy_and_rate_limited() {
    let off = TestAuthServer::start().await;
    assert_eq!(register(&off, &agent(), None).await.0, 404);
    assert!(discovery(&off).await.get("registration_endpoint").is_none());

    let server = with_registration(open()).await;
    let plain = http()
        .post(server.url("/oauth/register"))
        .header("content-type", "text/plain")
        .body(agent().to_string())
        .send()
        .await
        .expect("register");
    assert_eq!(
        plain.status(),
        400,
        "only application/json (no cross-site form)"
    );
    let refused = |metadata: Value| {
        let server = &server;
        async move { register(server, &metadata, None).await }
    };
    for (metadata, error) in [
        (
            json!({"redirect_uris": ["http://app.example/cb"], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none", "scope": "openid portcullis:admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [CALLBACK], "software_statement": "eyJhbGciOiJub25lIn0.e30."}),
            "unapproved_software_statement",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ] {
        let (status, body) = refused(metadata.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{metadata}"
        );
    }

    // Every attempt counted so far (refusals too): this network is now locked out.
    assert_eq!(register(&server, &agent(), None).await.0, 429);

    // A confidential client gets a secret that works at the token endpoint.
    let server = with_registration(open()).await;
    let (status, confidential) = register(
        &server,
        &json!({"redirect_uris": ["https://app.example/cb"], "client_name": "Web"}),
        None,
    )
    .await;
    assert_eq!(status, 201, "{confidential}");
    assert_eq!(
        confidential["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(confidential["client_secret_expires_at"], 0);
    let secret = confidential["client_secret"].as_str().expect("secret");
    let id = confidential["client_id"].as_str().expect("id");
    let grant = token_with_basic(
        &server,
        id,
        secret,
        &[("grant_type", "authorization_code"), ("code", "nothing")],
    )
    .await;
    let grant: Value = grant.json().await.expect("json");
    assert_eq!(
        grant["error"], "invalid_grant",
        "authenticated, then the code is refused"
    );

    // A few registrations per network, then 429 (the test throttle locks after 4).
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < 8 {
        statuses.push(register(&server, &agent(), None).await.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.len() <= 4, "{statuses:?}");

    // In total, at most max_clients.
    let capped = with_registration(DynamicRegistrationPolicy {
        max_clients: 1,
        ..open()
    })
    .await;
    assert_eq!(register(&capped, &agent(), None).await.0, 201);
    assert_eq!(register(&capped, &agent(), None).await.0, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode_needs_an_initial_access_token() {
    let server = with_registration(DynamicRegistrationPolicy {
        mode: DynamicRegistrationMode::Token,
        ..open()
    })
    .await;
    let (_, secret) = server
        .add_client(automation("ci", "portcullis:register", &server.base_url))
        .await;
    let (_, other_secret) = server
        .add_client(automation("reader", "portcullis:audit", &server.base_url))
        .await;
    let token_of = |id: &'static str, secret: String| {
        let server = &server;
        async move {
            let response: Value =
                token_with_basic(server, id, &secret, &[("grant_type", "client_credentials")])
                    .await
                    .json()
                    .await
                    .expect("json");
            response["access_token"].as_str().expect("token").to_owned()
        }
    };
    let initial = token_of("ci", secret.expect("secret")).await;
    let unrelated = token_of("reader", other_secret.expect("secret")).await;

    let (status, body) = register(&server, &agent(), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert_eq!(register(&server, &agent(), Some(&unrelated)).await.0, 401);
    assert_eq!(
        register(&server, &agent(), Some("not.a.token")).await.0,
        401
    );
    let (status, registered) = register(&server, &agent(), Some(&initial)).await;
    assert_eq!(status, 201, "{registered}");
}
