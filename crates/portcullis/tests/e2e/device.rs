//! The device authorization grant (RFC 8628) end to end: a device asks for codes, polls while
//! its user signs in on another browser, types the code and allows it, then gets tokens once;
//! `slow_down`, expiry, denial, another client's device code, wrong and throttled user codes,
//! and the form's CSRF check.

use super::browser::{Browser, PASSWORD};
use super::support::{audit_records, claims_of, discovery, http};
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_testkit::browser::hidden_fields;
use portcullis_testkit::{ManualClock, TestAuthServer, TestOptions};
use portcullis_types::GrantType;
use serde_json::Value;
use std::sync::Arc;

const TV: &str = "tv";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub fn tv_client() -> ClientRegistration {
    ClientRegistration {
        id: TV.into(),
        kind: ClientKind::Public,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        redirect_uris: vec![],
        scopes: vec!["openid".into(), "api:read".into(), "offline_access".into()],
        audiences: vec![],
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

async fn with_manual_clock() -> (Arc<ManualClock>, TestAuthServer) {
    let clock = ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        clock: clock.clone(),
        ..TestOptions::default()
    })
    .await;
    server.add_client(tv_client()).await;
    (clock, server)
}

/// `POST /device_authorization` as `client_id`.
async fn ask(server: &TestAuthServer, client_id: &str, scope: &str) -> (u16, Value) {
    let response = http()
        .post(server.url("/device_authorization"))
        .form(&[("client_id", client_id), ("scope", scope)])
        .send()
        .await
        .expect("device authorization");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// One poll of the token endpoint as `client_id`.
async fn poll(server: &TestAuthServer, client_id: &str, device_code: &str) -> (u16, Value) {
    let response = http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client_id),
        ])
        .send()
        .await
        .expect("poll");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// Opens the verification page for `user_code` as `username` (signing in on the way), sends
/// the code and answers `decision` on its confirmation: the final page.
pub async fn decide(
    server: &TestAuthServer,
    browser: &Browser,
    username: &str,
    user_code: &str,
    decision: &str,
) -> (u16, String) {
    decide_at(
        &server.base_url,
        browser,
        (username, PASSWORD),
        user_code,
        decision,
    )
    .await
}

/// As [`decide`], at the auth server `base_url` (`up`'s, say), signing in with `credentials`.
pub async fn decide_at(
    base_url: &str,
    browser: &Browser,
    credentials: (&str, &str),
    user_code: &str,
    decision: &str,
) -> (u16, String) {
    let url = format!("{base_url}/device?user_code={user_code}");
    let (status, form) = browser.open_signed_in(base_url, &url, credentials).await;
    assert_eq!(status, 200, "{form}");
    let mut fields = hidden_fields(&form);
    fields.push(("user_code".into(), user_code.into()));
    let confirm = browser.post(&format!("{base_url}/device"), &fields).await;
    assert_eq!(confirm.status(), 200);
    let mut fields = hidden_fields(&confirm.text().await.expect("page"));
    fields.push(("decision".into(), decision.into()));
    let response = browser.post(&format!("{base_url}/device"), &fields).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

/// Opens `/device?user_code=` as `username` (signing in on the way): the form comes filled in,
/// and sending it gives the confirmation page (or the refusal).
async fn confirmation(
    server: &TestAuthServer,
    browser: &Browser,
    username: &str,
    user_code: &str,
) -> (u16, String) {
    let url = server.url(&format!("/device?user_code={user_code}"));
    let (status, form) = browser
        .open_signed_in(&server.base_url, &url, (username, PASSWORD))
        .await;
    assert_eq!(status, 200, "{form}");
    assert!(form.contains(&format!("value=\"{user_code}\"")), "{form}");
    send_code(server, browser, &form, user_code).await
}

/// Sends `user_code` through the code form `form`.
async fn send_code(
    server: &TestAuthServer,
    browser: &Browser,
    form: &str,
    user_code: &str,
) -> (u16, String) {
    let mut fields = hidden_fields(form);
    fields.push(("user_code".into(), user_code.into()));
    let response = browser.post(&server.url("/device"), &fields).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_gets_tokens_once_its_user_types_the_code_and_allows_it() {
    let (clock, server) = with_manual_clock().await;
    let alice = server.add_user("alice", &["user"], PASSWORD).await;
    let metadata = discovery(&server).await;
    assert_eq!(
        metadata["device_authorization_endpoint"],
        server.url("/device_authorization")
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .expect("grant types")
            .contains(&Value::from(DEVICE_GRANT))
    );

    let (status, codes) = ask(&server, TV, "openid api:read offline_access").await;
    assert_eq!(status, 200, "{codes}");
    let user_code = codes["user_code"].as_str().expect("user_code");
    assert!(
        user_code.len() == 9
            && user_code.as_bytes()[4] == b'-'
            && user_code
                .bytes()
                .all(|b| b == b'-' || b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)),
        "{user_code}"
    );
    assert_eq!(codes["verification_uri"], server.url("/device"));
    assert_eq!(
        codes["verification_uri_complete"],
        format!("{}?user_code={user_code}", server.url("/device"))
    );
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 5);
    let device_code = codes["device_code"].as_str().expect("device_code");

    // RFC 8628 §3.5: pending, then too fast (the interval grows by 5 s), then pending again.
    assert_eq!(
        poll(&server, TV, device_code).await.1["error"],
        "authorization_pending"
    );
    assert_eq!(poll(&server, TV, device_code).await.1["error"], "slow_down");
    clock.advance(9);
    assert_eq!(
        poll(&server, TV, device_code).await.1["error"],
        "slow_down",
        "the interval is now 10 s, and grows to 15 s with this poll"
    );
    clock.advance(15);
    let (status, pending) = poll(&server, TV, device_code).await;
    assert_eq!(
        (status, &pending["error"]),
        (400, &Value::from("authorization_pending"))
    );

    // The user types the code in lower case without its dash; the page shows it as the device
    // does, with the application and what it asks for.
    let browser = Browser::new();
    let typed = user_code.replace('-', "").to_lowercase();
    let (status, confirm) = confirmation(&server, &browser, "alice", &typed).await;
    assert_eq!(status, 200, "{confirm}");
    assert!(
        confirm.contains(&format!("<code>{user_code}</code>"))
            && confirm.contains("<strong>tv</strong>")
            && confirm.contains("<code>api:read</code>"),
        "{confirm}"
    );
    let mut fields = hidden_fields(&confirm);
    fields.push(("decision".into(), "allow".into()));
    let allowed = browser.post(&server.url("/device"), &fields).await;
    assert_eq!(allowed.status(), 200);
    assert!(
        allowed
            .text()
            .await
            .expect("page")
            .contains("Device allowed")
    );

    clock.advance(15);
    let (status, tokens) = poll(&server, TV, device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = claims_of(tokens["access_token"].as_str().expect("access token"));
    assert_eq!(access["sub"], alice.id);
    assert_eq!(access["client_id"], TV);
    assert!(tokens["id_token"].is_string(), "openid was asked for");
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access was asked for"
    );

    // Tokens are issued once.
    clock.advance(15);
    let (status, spent) = poll(&server, TV, device_code).await;
    assert_eq!(
        (status, &spent["error"]),
        (400, &Value::from("invalid_grant"))
    );
    let decided = audit_records(&server)
        .await
        .into_iter()
        .find(|record| record.kind == "device_decided")
        .expect("the decision is audited");
    assert!(
        decided.detail.contains("\"approved\":true"),
        "{}",
        decided.detail
    );
    assert!(
        !decided.detail.contains(device_code),
        "no device code in the audit log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_expired_foreign_and_mistyped_codes_get_no_tokens() {
    let (clock, server) = with_manual_clock().await;
    server.add_user("bob", &["user"], PASSWORD).await;
    server
        .add_client(ClientRegistration {
            id: "other-tv".into(),
            ..tv_client()
        })
        .await;
    server
        .add_client(ClientRegistration {
            id: "web".into(),
            grant_types: vec![GrantType::AuthorizationCode],
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..tv_client()
        })
        .await;
    let browser = Browser::new();

    // Denied.
    let (_, codes) = ask(&server, TV, "api:read").await;
    let (status, page) = decide(
        &server,
        &browser,
        "bob",
        codes["user_code"].as_str().expect("user code"),
        "deny",
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Device denied"), "{page}");
    let device_code = codes["device_code"].as_str().expect("device code");
    assert_eq!(
        poll(&server, TV, device_code).await.1["error"],
        "access_denied"
    );
    assert_eq!(
        poll(&server, TV, device_code).await.1["error"],
        "invalid_grant",
        "a denial is answered once"
    );

    // Another client's device code is refused and changes nothing for its own client.
    let (_, codes) = ask(&server, TV, "api:read").await;
    let device_code = codes["device_code"].as_str().expect("device code");
    assert_eq!(
        poll(&server, "other-tv", device_code).await.1["error"],
        "invalid_grant"
    );
    assert_eq!(
        poll(&server, TV, device_code).await.1["error"],
        "authorization_pending",
        "not slow_down: the other client's poll was not counted"
    );

    // Expired: the page no longer knows the code, the device gets expired_token.
    clock.advance(601);
    let user_code = codes["user_code"].as_str().expect("user code");
    let (status, page) = confirmation(&server, &browser, "bob", user_code).await;
    assert_eq!(status, 400);
    assert!(
        page.contains("That code is wrong, expired or used already"),
        "{page}"
    );
    assert_eq!(
        poll(&server, TV, device_code).await.1["error"],
        "expired_token"
    );

    // A client without the grant cannot ask.
    let (status, refused) = ask(&server, "web", "api:read").await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &Value::from("unauthorized_client"))
    );
    let (status, refused) = ask(&server, TV, "admin").await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &Value::from("invalid_scope"))
    );

    // A decision without the form's CSRF token is refused.
    let (_, codes) = ask(&server, TV, "api:read").await;
    let user_code = codes["user_code"].as_str().expect("user code");
    let forged = browser
        .post(
            &server.url("/device"),
            &[
                ("user_code".to_owned(), user_code.to_owned()),
                ("decision".to_owned(), "allow".to_owned()),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);
    let device_code = codes["device_code"].as_str().expect("device code");
    assert_eq!(
        poll(&server, TV, device_code).await.1["error"],
        "authorization_pending"
    );

    // Wrong codes are audited and, past the throttle's allowance, refused even when right; a
    // right code of one's own does not clear the count. (The test throttle locks after 4.)
    server.add_user("mallory", &["user"], PASSWORD).await;
    let guesser = Browser::new();
    let (status, _) = confirmation(&server, &guesser, "mallory", "BBBB-BBBB").await;
    assert_eq!(status, 400);
    let (status, _) = confirmation(&server, &guesser, "mallory", user_code).await;
    assert_eq!(status, 200, "a right code: the confirmation");
    let (_, form) = guesser.page(&server.url("/device")).await;
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < 8 {
        statuses.push(send_code(&server, &guesser, &form, "BBBB-BBBB").await.0);
    }
    assert!(
        statuses.last() == Some(&429) && statuses.len() <= 4,
        "the right code cleared nothing: {statuses:?}"
    );
    let (status, _) = send_code(&server, &guesser, &form, user_code).await;
    assert_eq!(status, 429, "locked, even for the right code");
    // A link alone looks nothing up (it only fills the form in): no guesses spent cross-site.
    let (status, filled) = device_page(&browser, &server, "BBBB-BBBB").await;
    assert_eq!(status, 200);
    assert!(filled.contains("value=\"BBBB-BBBB\""), "{filled}");
    assert!(
        audit_records(&server)
            .await
            .iter()
            .any(|record| record.kind == "device_code_unknown")
    );
}

/// `GET /device?user_code=` in `browser`, already signed in.
async fn device_page(browser: &Browser, server: &TestAuthServer, user_code: &str) -> (u16, String) {
    browser
        .page(&server.url(&format!("/device?user_code={user_code}")))
        .await
}
