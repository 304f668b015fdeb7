//! The admin API over real HTTP on the auth server's admin listener: who may call it (no token
//! 401, wrong scope or role 403, auditors read only), every resource, field-named validation
//! errors, and the audit trail naming the actor.

use super::support::{automation, http, token_with_basic};
use portcullis_core::ClientRegistration;
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

pub(super) async fn token_of(server: &TestAuthServer, id: &str, scope: &str) -> String {
    let (_, secret) = server
        .add_client(automation(id, scope, &server.base_url))
        .await;
    let response = token_with_basic(
        server,
        id,
        &secret.expect("secret"),
        &[
            ("grant_type", "client_credentials"),
            ("audience", server.base_url.as_str()),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// Sends `method path` with an optional token and JSON body; returns the status and JSON body.
pub(super) async fn call(
    server: &TestAuthServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http().request(method, format!("{}{path}", server.admin_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin API");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn only_admin_tokens_get_in_and_auditors_only_read() {
    let server = TestAuthServer::start().await;
    let admin = token_of(&server, "ops", "portcullis:admin").await;
    let auditor = token_of(&server, "auditor", "portcullis:audit").await;
    let other = token_of(&server, "service", "read").await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    let new_user = json!({"username": "dave", "password": PASSWORD});

    let response = http()
        .get(format!("{}/admin/v1/users", server.admin_url))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    assert_eq!(
        response.json::<Value>().await.expect("json")["error"],
        "unauthorized"
    );
    let (status, body) = call(
        &server,
        get.clone(),
        "/admin/v1/users",
        Some("not-a-jwt"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = call(&server, get.clone(), "/admin/v1/users", Some(&other), None).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));

    let (status, _) = call(
        &server,
        get.clone(),
        "/admin/v1/users",
        Some(&auditor),
        None,
    )
    .await;
    assert_eq!(status, 200, "auditors read");
    let (status, body) = call(
        &server,
        post.clone(),
        "/admin/v1/users",
        Some(&auditor),
        Some(new_user.clone()),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "auditors never write"
    );
    let (status, body) = call(
        &server,
        post.clone(),
        "/admin/v1/users",
        Some(&admin),
        Some(new_user),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["username"], "dave");
    assert!(body.get("password_hash").is_none(), "never shown");

    // The public listener has no admin API.
    let public = http()
        .get(server.url("/admin/v1/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("public");
    assert_eq!(public.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn a_user_token_needs_the_scope_and_the_role() {
    let server = TestAuthServer::start_with(TestOptions {
        direct_login_client: Some("web".into()),
        ..TestOptions::default()
    })
    .await;
    server
        .add_client(ClientRegistration {
            scopes: vec!["openid".into(), "portcullis:admin".into()],
            ..super::support::web_client()
        })
        .await;
    server.add_user("root", &["admin"], PASSWORD).await;
    server.add_user("audrey", &["auditor"], PASSWORD).await;
    server.add_user("plain", &["user"], PASSWORD).await;
    let login = |username: &'static str| {
        let server = &server;
        async move {
            let response = http()
                .post(server.url("/login"))
                .json(&json!({"username": username, "password": PASSWORD}))
                .send()
                .await
                .expect("login");
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.expect("json");
            body["token"].as_str().expect("token").to_owned()
        }
    };
    let root = login("root").await;
    let audrey = login("audrey").await;
    let plain = login("plain").await;
    let patch = reqwest::Method::PATCH;
    let disable = json!({"disabled": true});
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/users/plain",
        Some(&audrey),
        None,
    )
    .await;
    assert_eq!(status, 200, "an auditor reads");
    let (status, _) = call(
        &server,
        patch.clone(),
        "/admin/v1/users/plain",
        Some(&audrey),
        Some(disable.clone()),
    )
    .await;
    assert_eq!(status, 403, "an auditor cannot write");
    let (status, _) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/users",
        Some(&plain),
        None,
    )
    .await;
    assert_eq!(
        status, 403,
        "the scope alone is not enough without the role"
    );
    let (status, body) = call(
        &server,
        patch,
        "/admin/v1/users/plain",
        Some(&root),
        Some(disable),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["disabled_at"].is_i64());

    // The change is audited with the admin's token as the actor.
    let (status, audit) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/audit?kind=admin_action&subject=plain",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let events = audit["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["detail"]["action"], "user.disable");
    let actor = events[0]["detail"]["actor"].as_str().expect("actor");
    assert!(
        actor.starts_with("token:") && actor.ends_with("@web"),
        "{actor}"
    );
    server.stop().await;
}

#[tokio::test]
async fn users_are_managed_with_errors_that_name_the_field() {
    let server = TestAuthServer::start().await;
    let admin_token = token_of(&server, "ops", "portcullis:admin").await;
    let admin = Some(admin_token.as_str());
    let (get, post, patch, put, delete) = (
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PATCH,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    );
    for name in ["alice", "alan", "bob"] {
        let body = json!({"username": name, "roles": ["user"], "email": format!("{name}@example.com"), "password": PASSWORD});
        let (status, _) = call(&server, post.clone(), "/admin/v1/users", admin, Some(body)).await;
        assert_eq!(status, 201);
    }
    let invalid = [
        (
            json!({"username": "no spaces", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "eve", "email": "nope", "password": PASSWORD}),
            "email",
        ),
        (json!({"username": "eve", "password": "short"}), "password"),
        (
            json!({"username": "eve", "password": "qwerty123456"}),
            "password",
        ),
        (
            json!({"username": "eve", "password": "eve-eve-eve-eve"}),
            "password",
        ),
        (
            json!({"username": "eve", "roles": "admin", "password": PASSWORD}),
            "roles",
        ),
        (json!({"username": "eve"}), "password"),
        (
            json!({"username": "eve", "password": PASSWORD, "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in invalid {
        let (status, answer) = call(
            &server,
            post.clone(),
            "/admin/v1/users",
            admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["error"], "invalid");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    // A cross-site form cannot post JSON; anything else is refused before it is read.
    let form = http()
        .post(format!("{}/admin/v1/users", server.admin_url))
        .bearer_auth(&admin_token)
        .header("content-type", "text/plain")
        .body(r#"{"username": "eve", "password": "correct horse battery staple"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(form.status(), 400);
    assert_eq!(
        form.json::<Value>().await.expect("json")["field"],
        "content-type"
    );
    let (status, answer) = call(
        &server,
        post.clone(),
        "/admin/v1/users",
        admin,
        Some(json!({"username": "ALICE", "password": PASSWORD})),
    )
    .await;
    assert_eq!((status, answer["error"].as_str()), (409, Some("conflict")));

    // Search and pages through the username index.
    let (_, page) = call(
        &server,
        get.clone(),
        "/admin/v1/users?search=AL&limit=1",
        admin,
        None,
    )
    .await;
    assert_eq!(page["users"][0]["username"], "alan");
    let next = page["next"].as_str().expect("a next page").to_owned();
    let (_, page) = call(
        &server,
        get.clone(),
        &format!("/admin/v1/users?search=al&after={next}"),
        admin,
        None,
    )
    .await;
    assert_eq!(page["users"].as_array().expect("users").len(), 1);
    assert_eq!(page["users"][0]["username"], "alice");
    assert!(page["next"].is_null());
    let (status, answer) = call(&server, get.clone(), "/admin/v1/users?limit=0", admin, None).await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("limit")));

    let (status, user) = call(
        &server,
        patch,
        "/admin/v1/users/bob",
        admin,
        Some(json!({"roles": ["admin", "user"], "email": null})),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["roles"], json!(["admin", "user"]));
    assert!(user["email"].is_null());
    let (status, changed) = call(
        &server,
        put,
        "/admin/v1/users/bob/password",
        admin,
        Some(json!({"password": "another long passphrase"})),
    )
    .await;
    assert_eq!((status, changed["sessions_ended"].as_u64()), (200, Some(0)));
    let (status, sessions) = call(
        &server,
        get.clone(),
        "/admin/v1/users/bob/sessions",
        admin,
        None,
    )
    .await;
    assert_eq!((status, sessions), (200, json!([])));
    let (_, bob) = call(&server, get.clone(), "/admin/v1/users/bob", admin, None).await;
    let (status, _) = call(&server, delete.clone(), "/admin/v1/users/bob", admin, None).await;
    assert_eq!(status, 204);
    // Deleting revokes whatever the user held: their id is on the revocation list.
    let (status, revocations) = call(
        &server,
        get.clone(),
        "/admin/v1/revocations?limit=10",
        admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        revocations["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|entry| entry["kind"] == "sub" && entry["value"] == bob["id"]),
        "{revocations}"
    );
    let (status, answer) = call(&server, get, "/admin/v1/users/bob", admin, None).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    let (status, _) = call(
        &server,
        delete,
        "/admin/v1/users/alice/consents/nobody",
        admin,
        None,
    )
    .await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn clients_keys_and_sessions_are_managed() {
    let server = TestAuthServer::start().await;
    let admin = token_of(&server, "ops", "portcullis:admin").await;
    let admin = Some(admin.as_str());
    let (get, post, delete) = (
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::DELETE,
    );
    let (status, created) = call(
        &server,
        post.clone(),
        "/admin/v1/clients",
        admin,
        Some(json!({"id": "billing", "kind": "confidential", "grant_types": ["client_credentials"], "scopes": ["read"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let first = created["client_secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert_eq!(
        super::support::client_credentials_status(&server, "billing", &first).await,
        200
    );
    let (status, rotated) = call(
        &server,
        post.clone(),
        "/admin/v1/clients/billing/secret",
        admin,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let second = rotated["client_secret"].as_str().expect("new secret");
    assert_eq!(
        super::support::client_credentials_status(&server, "billing", &first).await,
        401
    );
    assert_eq!(
        super::support::client_credentials_status(&server, "billing", second).await,
        200
    );
    let (status, answer) = call(
        &server,
        post.clone(),
        "/admin/v1/clients",
        admin,
        Some(json!({"id": "x", "kind": "sometimes", "grant_types": []})),
    )
    .await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("kind")));
    let (status, answer) = call(
        &server,
        post.clone(),
        "/admin/v1/clients",
        admin,
        Some(json!({"id": "x", "kind": "public", "grant_types": ["client_credentials"]})),
    )
    .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("grant_types"))
    );
    // A client registered with its public keys authenticates with private_key_jwt: no secret.
    let key = portcullis_testkit::client_key::ClientKey::new("k1");
    let (status, keyed) = call(
        &server,
        post.clone(),
        "/admin/v1/clients",
        admin,
        Some(
            json!({"id": "signer", "kind": "confidential", "grant_types": ["client_credentials"],
            "jwks": key.jwks(), "dpop_bound_access_tokens": true,
            "backchannel_logout_uri": "https://signer.example/logout"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{keyed}");
    assert!(keyed["client_secret"].is_null(), "{keyed}");
    assert_eq!(
        keyed["client"]["token_endpoint_auth_method"],
        "private_key_jwt"
    );
    assert_eq!(keyed["client"]["dpop_bound_access_tokens"], true);
    assert_eq!(keyed["client"]["jwks"]["keys"][0]["kid"], "k1");
    let (status, answer) = call(
        &server,
        post.clone(),
        "/admin/v1/clients/signer/secret",
        admin,
        None,
    )
    .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("id")),
        "no secret to rotate"
    );
    let mut private = key.jwks();
    private["keys"][0]["d"] = json!("jpsQnnGQmL-YBIffH1136cLYkq8qeO8V4lLlVSg0LB0");
    for (body, field) in [
        (
            json!({"id": "x", "kind": "confidential", "grant_types": ["client_credentials"], "jwks": private}),
            "jwks",
        ),
        (
            json!({"id": "x", "kind": "confidential", "grant_types": ["client_credentials"], "jwks": key.jwks(), "jwks_uri": "https://x.example/jwks"}),
            "jwks",
        ),
        (
            json!({"id": "x", "kind": "confidential", "grant_types": ["client_credentials"], "jwks_uri": "http://x.example/jwks"}),
            "jwks_uri",
        ),
        (
            json!({"id": "x", "kind": "confidential", "grant_types": ["client_credentials"], "backchannel_logout_uri": "https://x.example/bc#f"}),
            "backchannel_logout_uri",
        ),
    ] {
        let (status, answer) = call(
            &server,
            post.clone(),
            "/admin/v1/clients",
            admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{body}: {answer}"
        );
    }
    let (status, client) = call(
        &server,
        get.clone(),
        "/admin/v1/clients/billing",
        admin,
        None,
    )
    .await;
    assert_eq!(
        (status, client["kind"].as_str()),
        (200, Some("confidential"))
    );
    assert!(client.get("client_secret").is_none());
    let update = |body: Value| {
        let server = &server;
        async move {
            call(
                server,
                reqwest::Method::PUT,
                "/admin/v1/clients/billing",
                admin,
                Some(body),
            )
            .await
        }
    };
    let (status, updated) = update(json!({"id": "billing", "kind": "confidential", "grant_types": ["client_credentials"], "scopes": ["read", "write"]})).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["scopes"], json!(["read", "write"]));
    assert_eq!(
        super::support::client_credentials_status(&server, "billing", second).await,
        200,
        "an update keeps the secret"
    );
    let (status, answer) = update(
        json!({"id": "other", "kind": "confidential", "grant_types": ["client_credentials"]}),
    )
    .await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("id")));
    let (status, answer) = update(json!({"id": "billing", "kind": "public", "grant_types": ["authorization_code"], "redirect_uris": ["https://app.example/cb"]})).await;
    assert_eq!((status, answer["field"].as_str()), (400, Some("kind")));
    let (status, _) = call(
        &server,
        delete.clone(),
        "/admin/v1/clients/billing",
        admin,
        None,
    )
    .await;
    assert_eq!(status, 204);

    let (_, keys) = call(&server, get.clone(), "/admin/v1/keys", admin, None).await;
    let before = keys.as_array().expect("keys").len();
    let (status, new_keys) = call(
        &server,
        post.clone(),
        "/admin/v1/keys/rotate",
        admin,
        Some(json!({"algorithms": ["ES256"]})),
    )
    .await;
    assert_eq!(status, 200, "{new_keys}");
    assert_eq!(new_keys[0]["alg"], "ES256");
    let (_, keys) = call(&server, get.clone(), "/admin/v1/keys", admin, None).await;
    assert_eq!(keys.as_array().expect("keys").len(), before + 1);
    let (status, answer) = call(
        &server,
        post,
        "/admin/v1/keys/rotate",
        admin,
        Some(json!({"algorithms": ["HS256"]})),
    )
    .await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("algorithms"))
    );

    let (status, sessions) = call(&server, get, "/admin/v1/sessions", admin, None).await;
    assert_eq!((status, sessions), (200, json!([])));
    let (status, answer) = call(&server, delete, "/admin/v1/sessions/nope", admin, None).await;
    assert_eq!((status, answer["error"].as_str()), (404, Some("not_found")));
    server.stop().await;
}

#[tokio::test]
async fn roles_are_put_listed_and_deleted() {
    let server = TestAuthServer::start().await;
    let admin = token_of(&server, "ops", "portcullis:admin").await;
    let auditor = token_of(&server, "auditor", "portcullis:audit").await;
    let put = reqwest::Method::PUT;
    let role = json!({"scopes": ["products:write", "products:read"], "description": "editors"});

    let (status, body) = call(
        &server,
        put.clone(),
        "/admin/v1/roles/editor",
        Some(&admin),
        Some(role.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"name": "editor", "scopes": ["products:read", "products:write"], "description": "editors"})
    );
    let (status, body) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/roles",
        Some(&auditor),
        None,
    )
    .await;
    assert_eq!(
        (status, body[0]["name"].as_str()),
        (200, Some("editor")),
        "auditors read"
    );
    let (status, _) = call(
        &server,
        put.clone(),
        "/admin/v1/roles/editor",
        Some(&auditor),
        Some(role.clone()),
    )
    .await;
    assert_eq!(status, 403, "auditors do not write");

    let (status, body) = call(
        &server,
        put.clone(),
        "/admin/v1/roles/Editor",
        Some(&admin),
        Some(role),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("name")),
        "{body}"
    );
    let bad_scope = json!({"scopes": ["a b"]});
    let (status, body) = call(
        &server,
        put.clone(),
        "/admin/v1/roles/x",
        Some(&admin),
        Some(bad_scope),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("scopes")),
        "{body}"
    );
    let unknown = json!({"scopes": [], "grants": []});
    let (status, _) = call(
        &server,
        put,
        "/admin/v1/roles/x",
        Some(&admin),
        Some(unknown),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused");

    let delete = reqwest::Method::DELETE;
    let (status, _) = call(
        &server,
        delete.clone(),
        "/admin/v1/roles/editor",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = call(
        &server,
        delete,
        "/admin/v1/roles/editor",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (_, audit) = call(
        &server,
        reqwest::Method::GET,
        "/admin/v1/audit?kind=admin_action",
        Some(&admin),
        None,
    )
    .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| event["detail"]["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"role.put") && actions.contains(&"role.delete"),
        "{audit}"
    );
    server.stop().await;
}
