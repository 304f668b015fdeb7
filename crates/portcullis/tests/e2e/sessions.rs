//! Sessions, CSRF, prompt handling, brute-force protection, logout, direct login, revocation.

use super::browser::{
    AFTER_LOGOUT, APP, Browser, CALLBACK, PASSWORD, app_client, authorize, authorize_redirect,
    authorize_url, hidden_fields, location, pkce_pair, query_param, refresh, sign_in_for_tokens,
};
use super::support::{http, resource_server, service_client};
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::Value;

async fn sign_in(
    browser: &Browser,
    server: &TestAuthServer,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = browser
        .get(&server.url("/signin"))
        .await
        .text()
        .await
        .expect("html");
    let mut fields = hidden_fields(&page);
    fields.push(("username".into(), username.into()));
    fields.push(("password".into(), password.into()));
    browser.post(&server.url("/signin"), &fields).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_pages_are_hardened_and_csrf_protected() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let page = browser.get(&server.url("/signin")).await;
    let headers = page.headers().clone();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("csp")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let csrf_cookie = headers["set-cookie"].to_str().expect("cookie");
    assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));
    let html = page.text().await.expect("html");
    assert!(
        html.contains("<label for=\"username\">")
            && html.contains("autocomplete=\"current-password\"")
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );

    // Without the CSRF field, or with a wrong one, sign-in is refused.
    let mut fields = vec![
        ("username".to_owned(), "alice".to_owned()),
        ("password".to_owned(), PASSWORD.to_owned()),
    ];
    assert_eq!(
        browser.post(&server.url("/signin"), &fields).await.status(),
        403
    );
    fields.push((
        "csrf_token".into(),
        "forged-forged-forged-forged-forged-forged".into(),
    ));
    assert_eq!(
        browser.post(&server.url("/signin"), &fields).await.status(),
        403
    );
    // A different browser (no CSRF cookie) posting a stolen token is refused too.
    let token = hidden_fields(&html)
        .into_iter()
        .find(|(name, _)| name == "csrf_token")
        .expect("token")
        .1;
    let attacker = Browser::new();
    let stolen = vec![
        ("username".to_owned(), "alice".to_owned()),
        ("password".to_owned(), PASSWORD.to_owned()),
        ("csrf_token".to_owned(), token),
    ];
    assert_eq!(
        attacker
            .post(&server.url("/signin"), &stolen)
            .await
            .status(),
        403
    );

    // Consent form without CSRF: refused.
    let signed_in = sign_in(&browser, &server, "alice", PASSWORD).await;
    assert_eq!(signed_in.status(), 200);
    let session_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        session_cookie.contains("portcullis_session=")
            && session_cookie.contains("HttpOnly")
            && session_cookie.contains("SameSite=Lax")
    );
    assert!(!session_cookie.contains("Domain"), "host-only");
    let (_, challenge) = pkce_pair();
    let consent = browser
        .get(&authorize_url(&server, "openid", &challenge, &[]))
        .await
        .text()
        .await
        .expect("html");
    let forged: Vec<(String, String)> = hidden_fields(&consent)
        .into_iter()
        .filter(|(name, _)| name != "csrf_token")
        .chain([("decision".to_owned(), "allow".to_owned())])
        .collect();
    assert_eq!(
        browser
            .post(&server.url("/authorize"), &forged)
            .await
            .status(),
        403
    );
    // Denying sends access_denied back.
    let mut deny = hidden_fields(&consent);
    deny.push(("decision".into(), "deny".into()));
    let denied = location(
        &browser.post(&server.url("/authorize"), &deny).await,
        &server.base_url,
    );
    assert_eq!(
        query_param(&denied, "error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_at_every_sign_in_and_prompt_handling() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();

    let target = authorize_redirect(
        &browser,
        &server,
        "openid",
        &challenge,
        &[("prompt", "none")],
    )
    .await;
    assert!(target.starts_with(CALLBACK));
    assert_eq!(
        query_param(&target, "error").as_deref(),
        Some("login_required")
    );

    let first = sign_in(&browser, &server, "alice", PASSWORD).await;
    let first_cookie = first.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    let second = sign_in(&browser, &server, "alice", PASSWORD).await;
    let second_cookie = second.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert_ne!(
        first_cookie, second_cookie,
        "a new session id at every sign-in"
    );

    let consent_needed = browser
        .get(&authorize_url(
            &server,
            "openid",
            &challenge,
            &[("prompt", "none")],
        ))
        .await;
    assert_eq!(
        query_param(&location(&consent_needed, &server.base_url), "error").as_deref(),
        Some("consent_required")
    );

    let target = authorize_redirect(
        &browser,
        &server,
        "openid",
        &challenge,
        &[("prompt", "login")],
    )
    .await;
    assert!(
        target.contains("/signin?"),
        "prompt=login forces sign-in: {target}"
    );
    let return_to = query_param(&target, "return_to").expect("return_to");
    assert!(!return_to.contains("prompt=login"), "no sign-in loop");
    let callback = authorize(
        &browser,
        &server,
        &authorize_url(
            &server,
            "openid",
            &challenge,
            &[("max_age", "0"), ("login_hint", "alice")],
        ),
        "alice",
    )
    .await;
    assert!(query_param(&callback, "code").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_generic_then_throttled_then_locked() {
    let server = TestAuthServer::start().await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let hashes = || server.state.credentials.password_verifications();
    let before = hashes();
    let unknown = sign_in(&browser, &server, "nobody", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.expect("html");
    assert_eq!(
        hashes(),
        before + 1,
        "an unknown user costs one Argon2 verification (the dummy hash), like a real one"
    );
    let wrong = sign_in(&browser, &server, "alice", "wrong password")
        .await
        .text()
        .await
        .expect("html");
    assert_eq!(hashes(), before + 2, "a wrong password costs the same one");
    assert!(
        unknown.contains("Invalid username or password.")
            && wrong.contains("Invalid username or password."),
        "the same message whether or not the user exists"
    );
    // The fast test policy locks an account after 4 failures.
    for _ in 0..3 {
        assert_eq!(
            sign_in(&browser, &server, "alice", "wrong password")
                .await
                .status(),
            401
        );
    }
    let locked = sign_in(&browser, &server, "alice", PASSWORD).await;
    assert_eq!(locked.status(), 429, "locked even with the right password");
    assert!(
        locked
            .text()
            .await
            .expect("html")
            .contains("Too many failed attempts")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    authorize(
        &browser,
        &server,
        &authorize_url(&server, "openid", &challenge, &[]),
        "alice",
    )
    .await;
    let dir = server.stop().await.expect("dir");
    let restarted = TestAuthServer::start_in_dir(dir.path(), TestOptions::default()).await;
    // The cookie's domain is 127.0.0.1 whatever the port, so the jar sends it to the new port.
    let again = browser
        .get(&authorize_url(&restarted, "openid", &challenge, &[]))
        .await;
    assert!(
        location(&again, &restarted.base_url).starts_with(CALLBACK),
        "no sign-in needed after restart"
    );
    restarted.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_revokes_tokens_and_feeds_gateways() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    let mut gateway = service_client("gateway");
    gateway.scopes.push("portcullis:revocations".into());
    let (_, gateway_secret) = server.add_client(gateway).await;
    let gateway_secret = gateway_secret.expect("secret");
    server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let tokens = sign_in_for_tokens(&browser, &server, "openid offline_access", "alice").await;
    let id_token = tokens["id_token"].as_str().expect("id token");

    let feed = |after: i64| {
        http()
            .get(server.url(&format!("/revocations?after={after}")))
            .basic_auth("gateway", Some(gateway_secret.as_str()))
            .send()
    };
    let before: Value = feed(0).await.expect("feed").json().await.expect("json");
    let cursor = before["next"].as_i64().expect("next");

    // A foreign post_logout_redirect_uri is refused, never followed.
    let foreign = format!(
        "/logout?id_token_hint={id_token}&post_logout_redirect_uri=https://evil.example/&state=s"
    );
    let refused = browser.get(&server.url(&foreign)).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());

    let confirm = browser
        .get(&server.url(&format!(
            "/logout?id_token_hint={id_token}&post_logout_redirect_uri={AFTER_LOGOUT}&state=bye"
        )))
        .await;
    assert_eq!(confirm.status(), 200);
    let fields = hidden_fields(&confirm.text().await.expect("html"));
    let without_csrf: Vec<(String, String)> = fields
        .iter()
        .filter(|(name, _)| name != "csrf_token")
        .cloned()
        .collect();
    assert_eq!(
        browser
            .post(&server.url("/logout"), &without_csrf)
            .await
            .status(),
        403
    );
    let done = browser.post(&server.url("/logout"), &fields).await;
    let target = location(&done, &server.base_url);
    assert!(target.starts_with(AFTER_LOGOUT));
    assert_eq!(query_param(&target, "state").as_deref(), Some("bye"));

    assert_eq!(
        refresh(&server, tokens["refresh_token"].as_str().expect("refresh"))
            .await
            .status(),
        400,
        "session's refresh tokens revoked"
    );
    let entries: Value = feed(cursor)
        .await
        .expect("feed")
        .json()
        .await
        .expect("json");
    let kinds: Vec<&str> = entries["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"sid"), "sid on the feed: {entries}");
    assert!(
        kinds.contains(&"jti"),
        "the session's access token on the feed: {entries}"
    );
    let signed_out = browser
        .get(&authorize_url(&server, "openid", &challenge, &[]))
        .await;
    assert!(
        location(&signed_out, &server.base_url).contains("/signin?"),
        "session ended"
    );

    let no_scope = http()
        .get(server.url("/revocations"))
        .basic_auth(APP, Some("x"))
        .send()
        .await
        .expect("feed");
    assert_eq!(
        no_scope.status(),
        401,
        "public clients cannot authenticate to the feed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_introspection_per_rfc_7009_and_7662() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    let (_, rs_secret) = server.add_client(resource_server("rs")).await;
    let rs_secret = rs_secret.expect("secret");
    server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let tokens = sign_in_for_tokens(&browser, &server, "openid offline_access", "alice").await;
    let access = tokens["access_token"].as_str().expect("access");
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh");
    let introspect = |token: &str, secret: &str| {
        http()
            .post(server.url("/introspect"))
            .basic_auth("rs", Some(secret))
            .form(&[("token", token)])
            .send()
    };
    let active: Value = introspect(access, &rs_secret)
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (active["active"].as_bool(), active["client_id"].as_str()),
        (Some(true), Some(APP))
    );
    let refresh_info: Value = introspect(refresh_token, &rs_secret)
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(
        refresh_info,
        serde_json::json!({"active": false}),
        "a refresh token is the app's business, not a resource server's"
    );
    // RFC 7662 §4: only clients granted introspection may ask, and a token for other resources
    // is not active for them.
    let (_, plain_secret) = server.add_client(service_client("plain")).await;
    let refused = http()
        .post(server.url("/introspect"))
        .basic_auth("plain", plain_secret.as_deref())
        .form(&[("token", access)])
        .send()
        .await
        .expect("introspect");
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.expect("json")["error"],
        "unauthorized_client"
    );
    let mut elsewhere = resource_server("elsewhere");
    elsewhere.audiences = vec!["https://payments.example".into()];
    let (_, elsewhere_secret) = server.add_client(elsewhere).await;
    let other_audience: Value = http()
        .post(server.url("/introspect"))
        .basic_auth("elsewhere", elsewhere_secret.as_deref())
        .form(&[("token", access)])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(other_audience, serde_json::json!({"active": false}));
    assert_eq!(
        introspect(access, "wrong")
            .await
            .expect("introspect")
            .status(),
        401
    );
    let garbage: Value = introspect("garbage", &rs_secret)
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(garbage, serde_json::json!({"active": false}));

    let revoke = |token: &str, client_id: &str| {
        http()
            .post(server.url("/revoke"))
            .form(&[("token", token), ("client_id", client_id)])
            .send()
    };
    assert_eq!(
        revoke("unknown-token", APP).await.expect("revoke").status(),
        200,
        "RFC 7009 §2.2"
    );
    let mut other = app_client();
    other.id = "other".into();
    server.add_client(other).await;
    assert_eq!(
        revoke(access, "other").await.expect("revoke").status(),
        400,
        "another client's token"
    );
    assert_eq!(revoke(access, APP).await.expect("revoke").status(), 200);
    let revoked: Value = introspect(access, &rs_secret)
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json");
    assert_eq!(revoked["active"], false);
    let userinfo = http()
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), 401);
    assert!(
        userinfo.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(
        revoke(refresh_token, APP).await.expect("revoke").status(),
        200
    );
    assert_eq!(refresh(&server, refresh_token).await.status(), 400);
    let missing = http()
        .get(server.url("/userinfo"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(
        missing.headers()["www-authenticate"],
        "Bearer realm=\"portcullis\"",
        "no error code without a token"
    );
}

#[tokio::test]
async fn direct_login_is_off_by_default_and_issues_tokens_when_enabled() {
    let off = TestAuthServer::start().await;
    let response = http()
        .post(off.url("/login"))
        .json(&serde_json::json!({"username": "a", "password": "b"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 404);

    let server = TestAuthServer::start_with(TestOptions {
        direct_login_client: Some("web".into()),
        ..TestOptions::default()
    })
    .await;
    server.add_client(super::support::web_client()).await;
    let alice = server.add_user("alice", &["admin"], PASSWORD).await;
    let wrong = http()
        .post(server.url("/login"))
        .json(&serde_json::json!({"username": "alice", "password": "nope"}))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.expect("json"),
        serde_json::json!({"error": "invalid_credentials"})
    );
    let malformed = http()
        .post(server.url("/login"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("login");
    assert_eq!(malformed.status(), 400);
    let ok = http()
        .post(server.url("/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .contains("portcullis_session=")
    );
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        body["refresh_token"].is_string(),
        "first-party clients get refresh tokens"
    );
    let claims = super::support::verify_independently(
        body["token"].as_str().expect("token"),
        &super::support::jwks(&server.base_url).await,
        &server.base_url,
        "https://api.example",
    )
    .expect("verifies");
    assert_eq!(
        (claims["sub"].as_str(), claims["roles"].clone()),
        (Some(alice.id.as_str()), serde_json::json!(["admin"]))
    );
    assert_eq!(
        claims["preferred_username"], "alice",
        "services can greet by name"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_sessions_housekeeping_and_per_client_id_token_algorithm() {
    let clock = portcullis_testkit::ManualClock::new();
    let options = TestOptions {
        clock: clock.clone(),
        housekeeping_interval: std::time::Duration::from_millis(100),
        ..TestOptions::default()
    };
    let server = TestAuthServer::start_with(options).await;
    let mut es256_app = app_client();
    es256_app.id_token_algorithm = Some(portcullis_jose::Algorithm::Es256);
    server.add_client(es256_app).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let tokens = sign_in_for_tokens(&browser, &server, "openid", "alice").await;
    let header = jsonwebtoken::decode_header(tokens["id_token"].as_str().expect("id token"))
        .expect("header");
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::ES256,
        "the client's id token algorithm"
    );
    let by_post = http()
        .post(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("access"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(by_post.status(), 200, "userinfo by POST");

    let listing = super::support::stdout(
        &super::support::admin(server.data_dir(), &["session", "list"], "", &[]).await,
    );
    let row = listing
        .lines()
        .find(|line| line.contains("alice"))
        .expect("alice's session listed");
    let sid = row.split_whitespace().next().expect("sid").to_owned();
    let revoked =
        super::support::admin(server.data_dir(), &["session", "revoke", &sid], "", &[]).await;
    assert!(
        revoked.status.success(),
        "{}",
        super::support::stderr(&revoked)
    );
    let again = browser
        .get(&authorize_url(&server, "openid", &challenge, &[]))
        .await;
    assert!(
        location(&again, &server.base_url).contains("/signin?"),
        "revoked session no longer signs in"
    );
    let missing =
        super::support::admin(server.data_dir(), &["session", "revoke", &sid], "", &[]).await;
    assert!(!missing.status.success() && super::support::stderr(&missing).contains("no session"));

    // Housekeeping: once the idle timeout has passed, expired sessions are deleted.
    authorize(
        &browser,
        &server,
        &authorize_url(&server, "openid", &challenge, &[]),
        "alice",
    )
    .await;
    clock.advance(31 * 60);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let listing = super::support::stdout(
            &super::support::admin(server.data_dir(), &["session", "list"], "", &[]).await,
        );
        if !listing.contains("alice") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expired session was not purged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_revokes_their_tokens_and_consent_can_be_revoked() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    let mut gateway = service_client("gateway");
    gateway.scopes.push("portcullis:revocations".into());
    let (_, gateway_secret) = server.add_client(gateway).await;
    let alice = server.add_user("alice", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let tokens = sign_in_for_tokens(&browser, &server, "openid", "alice").await;
    let access = tokens["access_token"].as_str().expect("access");

    let revoked = super::support::admin(
        server.data_dir(),
        &["user", "revoke-consent", "alice", APP],
        "",
        &[],
    )
    .await;
    assert!(
        revoked.status.success(),
        "{}",
        super::support::stderr(&revoked)
    );
    let (_, challenge) = pkce_pair();
    let page = browser
        .get(&authorize_url(&server, "openid", &challenge, &[]))
        .await;
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("name=\"decision\""),
        "consent asked again"
    );
    let again = super::support::admin(
        server.data_dir(),
        &["user", "revoke-consent", "alice", APP],
        "",
        &[],
    )
    .await;
    assert!(!again.status.success());

    assert_eq!(
        http()
            .get(server.url("/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .expect("userinfo")
            .status(),
        200
    );
    let disabled =
        super::support::admin(server.data_dir(), &["user", "disable", "alice"], "", &[]).await;
    assert!(disabled.status.success());
    assert_eq!(
        http()
            .get(server.url("/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .expect("userinfo")
            .status(),
        401
    );
    let feed: Value = http()
        .get(server.url("/revocations"))
        .basic_auth("gateway", gateway_secret.as_deref())
        .send()
        .await
        .expect("feed")
        .json()
        .await
        .expect("json");
    let subject_revoked = feed["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|entry| entry["kind"] == "sub" && entry["value"] == alice.id.as_str());
    assert!(subject_revoked, "{feed}");
}
