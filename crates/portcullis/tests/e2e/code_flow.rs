//! Authorization Code + PKCE end to end: sign-in through the HTML form, consent, code exchange,
//! id token, userinfo, refresh rotation, and the replay defences.

use super::browser::{
    APP, Browser, CALLBACK, app_client, authorize, authorize_url, exchange, pkce_pair, query_param,
    refresh,
};
use super::support::{http, introspect, jwks, resource_server, verify_independently};
use portcullis_testkit::TestAuthServer;
use serde_json::Value;

/// Verifies an id token with the independent `jsonwebtoken` crate: RS256, issuer, audience.
pub(super) fn verify_id_token(token: &str, jwks: &Value, issuer: &str) -> Value {
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).expect("jwks");
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::RS256,
        "id tokens default to RS256"
    );
    let jwk = set.find(&header.kid.expect("kid")).expect("kid in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[APP]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("id token verifies")
        .claims
}

async fn userinfo(server: &TestAuthServer, access_token: &str) -> reqwest::Response {
    http()
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("userinfo")
}

struct Tokens {
    access: String,
    refresh: String,
    id: String,
}

async fn sign_in_and_get_tokens(server: &TestAuthServer, browser: &Browser) -> (Tokens, String) {
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(
        server,
        "openid profile email offline_access api:read",
        &challenge,
        &[],
    );
    let callback = authorize(browser, server, &url, "alice").await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some("st-1"),
        "state echoed"
    );
    assert_eq!(
        query_param(&callback, "iss").as_deref(),
        Some(server.base_url.as_str()),
        "RFC 9207 iss"
    );
    let code = query_param(&callback, "code").expect("code");
    assert!(code.len() >= 22, "at least 128 bits");
    let response = exchange(server, &code, &verifier).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    let tokens = Tokens {
        access: body["access_token"].as_str().expect("access").to_owned(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh: offline_access was granted")
            .to_owned(),
        id: body["id_token"]
            .as_str()
            .expect("id token: openid was granted")
            .to_owned(),
    };
    (tokens, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_flow_signs_in_consents_exchanges_and_refreshes() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    let alice = server
        .add_user("alice", &["admin", "user"], super::browser::PASSWORD)
        .await;
    let browser = Browser::new();
    let (tokens, _) = sign_in_and_get_tokens(&server, &browser).await;
    let published = jwks(&server.base_url).await;

    let access = verify_independently(
        &tokens.access,
        &published,
        &server.base_url,
        "https://api.example",
    )
    .expect("access token verifies independently");
    assert_eq!(access["sub"], alice.id);
    assert_eq!(access["client_id"], APP);
    assert_eq!(access["roles"], serde_json::json!(["admin", "user"]));
    assert!(access["sid"].is_string() && access["auth_time"].is_i64());
    let id = verify_id_token(&tokens.id, &published, &server.base_url);
    assert_eq!(id["sub"], alice.id);
    assert_eq!(id["nonce"], "n-1", "nonce carried into the id token");
    assert_eq!(id["sid"], access["sid"]);
    assert_eq!(id["auth_time"], access["auth_time"]);
    assert_eq!(id["preferred_username"], "alice");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(
        id["at_hash"],
        portcullis_jose::token_hash_claim(portcullis_jose::Algorithm::Rs256, &tokens.access)
    );

    let info = userinfo(&server, &tokens.access).await;
    assert_eq!(info.status(), 200);
    let info: Value = info.json().await.expect("json");
    assert_eq!(
        (info["sub"].as_str(), info["email"].as_str()),
        (Some(alice.id.as_str()), Some("alice@example.com"))
    );

    let refreshed = refresh(&server, &tokens.refresh).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.expect("json");
    let new_refresh = refreshed["refresh_token"]
        .as_str()
        .expect("rotated refresh token");
    assert_ne!(new_refresh, tokens.refresh, "rotated on every use");
    let new_access = verify_independently(
        refreshed["access_token"].as_str().expect("access"),
        &published,
        &server.base_url,
        "https://api.example",
    )
    .expect("refreshed access token verifies");
    assert_eq!(new_access["sid"], access["sid"]);
    let narrowed = refresh(&server, new_refresh)
        .await
        .json::<Value>()
        .await
        .expect("json");
    assert!(narrowed["refresh_token"].is_string());

    // Consent is remembered: a second authorization goes straight back with a code.
    let (_, challenge) = pkce_pair();
    let again = browser
        .get(&authorize_url(&server, "openid profile", &challenge, &[]))
        .await;
    assert_eq!(again.status(), 303);
    assert!(super::browser::location(&again, &server.base_url).starts_with(CALLBACK));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_replay_and_refresh_reuse_revoke_what_was_issued() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    let (_, rs_secret) = server.add_client(resource_server("rs")).await;
    let rs_secret = rs_secret.expect("secret");
    server
        .add_user("alice", &["user"], super::browser::PASSWORD)
        .await;
    let browser = Browser::new();

    // A code used twice: the second use fails and revokes the tokens of the first.
    let (tokens, code) = sign_in_and_get_tokens(&server, &browser).await;
    assert_eq!(
        introspect(&server, &rs_secret, &tokens.access).await["active"],
        true
    );
    let replay = exchange(
        &server,
        &code,
        "irrelevant-verifier-irrelevant-verifier-xyz",
    )
    .await;
    assert_eq!(replay.status(), 400);
    assert_eq!(
        replay.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    assert_eq!(
        introspect(&server, &rs_secret, &tokens.access).await["active"],
        false,
        "access token revoked"
    );
    assert_eq!(
        refresh(&server, &tokens.refresh).await.status(),
        400,
        "refresh token revoked"
    );
    assert_eq!(userinfo(&server, &tokens.access).await.status(), 401);

    // A refresh token used twice: the family dies, including the newest tokens.
    let (tokens, _) = sign_in_and_get_tokens(&server, &browser).await;
    let first = refresh(&server, &tokens.refresh)
        .await
        .json::<Value>()
        .await
        .expect("json");
    let current_refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    let current_access = first["access_token"].as_str().expect("access").to_owned();
    let reuse = refresh(&server, &tokens.refresh).await;
    assert_eq!(reuse.status(), 400);
    assert_eq!(
        reuse.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    assert_eq!(
        refresh(&server, &current_refresh).await.status(),
        400,
        "the whole family is revoked"
    );
    for (access, which) in [
        (&current_access, "the newest access token"),
        (&tokens.access, "the first access token of the family too"),
    ] {
        assert_eq!(
            introspect(&server, &rs_secret, access).await["active"],
            false,
            "{which}"
        );
    }
}

/// Signs in (if needed) and returns a fresh code for `challenge`.
async fn code_for(browser: &Browser, server: &TestAuthServer, challenge: &str) -> String {
    let url = authorize_url(server, "openid", challenge, &[]);
    query_param(&authorize(browser, server, &url, "alice").await, "code").expect("code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_redirect_uri_and_client_binding_errors() {
    let clock = portcullis_testkit::ManualClock::new();
    let server = TestAuthServer::start_with(portcullis_testkit::TestOptions {
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    server.add_client(app_client()).await;
    let mut other = app_client();
    other.id = "other-app".into();
    server.add_client(other).await;
    server
        .add_user("alice", &["user"], super::browser::PASSWORD)
        .await;
    let browser = Browser::new();

    // Unregistered redirect URI: an error page, never a redirect.
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(&server, "openid", &challenge, &[]).replace("callback", "evil");
    let page = browser.get(&url).await;
    assert_eq!(page.status(), 400);
    assert!(page.headers().get("location").is_none());
    assert!(page.text().await.expect("html").contains("not registered"));

    // Missing PKCE, plain PKCE, short challenge: errors redirected to the registered URI.
    let no_pkce = server.url(&format!(
        "/authorize?response_type=code&client_id={APP}&redirect_uri={CALLBACK}&state=st-1"
    ));
    let plain = authorize_url(&server, "openid", &challenge, &[])
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let short = authorize_url(&server, "openid", "too-short", &[]);
    for url in [no_pkce, plain, short] {
        let response = browser.get(&url).await;
        let target = super::browser::location(&response, &server.base_url);
        assert!(target.starts_with(CALLBACK), "{target}");
        assert_eq!(
            query_param(&target, "error").as_deref(),
            Some("invalid_request")
        );
        assert_eq!(query_param(&target, "state").as_deref(), Some("st-1"));
        assert!(query_param(&target, "code").is_none());
    }

    // Wrong verifier, wrong client, expired code: invalid_grant.
    let code = code_for(&browser, &server, &challenge).await;
    let (wrong_verifier, _) = pkce_pair();
    let wrong = exchange(&server, &code, &wrong_verifier).await;
    assert_eq!(
        wrong.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );
    assert_eq!(
        exchange(&server, &code, &verifier).await.status(),
        400,
        "a failed attempt burns the code"
    );

    let code = code_for(&browser, &server, &challenge).await;
    let stolen = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("client_id", "other-app"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(
        stolen.json::<Value>().await.expect("json")["error"],
        "invalid_grant"
    );

    let code = code_for(&browser, &server, &challenge).await;
    clock.advance(61);
    let expired = exchange(&server, &code, &verifier).await;
    assert_eq!(
        expired.json::<Value>().await.expect("json")["error"],
        "invalid_grant",
        "codes live at most 60 s"
    );
}
