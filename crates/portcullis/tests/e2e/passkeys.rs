//! The passkey endpoints over real HTTP (the ceremonies themselves run in Chromium with a virtual
//! authenticator: `browser/passkeys.mjs`): the options name the issuer's host as relying party and
//! ask for a discoverable, user-verifying credential; every call must be same-origin JSON; a
//! forged response is refused and a ceremony's state is good once; the second-factor ceremony
//! needs a right password first; an issuer on an IP address has no passkeys.

use super::browser::{Browser, PASSWORD, hidden_fields, location};
use super::support::http;
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::{Value, json};

const ISSUER: &str = "http://localhost:1";

/// A server whose issuer is on `localhost` (passkeys need a domain name).
async fn on_localhost(options: TestOptions) -> TestAuthServer {
    TestAuthServer::start_with(TestOptions {
        issuer: Some(ISSUER.into()),
        ..options
    })
    .await
}

async fn call(
    server: &TestAuthServer,
    browser: Option<&Browser>,
    path: &str,
    origin: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut request = match browser {
        Some(browser) => browser.client().post(server.url(path)),
        None => http().post(server.url(path)),
    };
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Signs `username` in at the sign-in page (password only).
async fn signed_in(server: &TestAuthServer, username: &str) -> Browser {
    let browser = Browser::new();
    let (_, page) = browser
        .page(&server.url("/signin?return_to=/account"))
        .await;
    let mut fields = hidden_fields(&page);
    fields.push(("username".into(), username.into()));
    fields.push(("password".into(), PASSWORD.into()));
    let response = browser.post(&server.url("/signin"), &fields).await;
    assert_eq!(
        location(&response, &server.base_url),
        server.url("/account")
    );
    browser
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_ceremonies_are_same_origin_single_use_and_verified() {
    let server = on_localhost(TestOptions::default()).await;
    server.add_user("olga", &[], PASSWORD).await;
    let browser = signed_in(&server, "olga").await;
    // The sign-in page offers passkeys (the script and the username's autofill).
    let (_, page) = Browser::new().page(&server.url("/signin")).await;
    assert!(
        page.contains("autocomplete=\"username webauthn\""),
        "{page}"
    );
    assert!(page.contains("<script src=\"/assets/passkeys.js\" defer></script>"));
    let script = http()
        .get(server.url("/assets/passkeys.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    // The password is asked for first: a borrowed session cannot add a passkey of its own.
    let (status, body) = call(
        &server,
        Some(&browser),
        "/account/passkeys/options",
        Some(ISSUER),
        json!({"current_password": "not it"}),
    )
    .await;
    assert_eq!((status, &body["error"]), (401, &json!("wrong_password")));
    let (status, ceremony) = call(
        &server,
        Some(&browser),
        "/account/passkeys/options",
        Some(ISSUER),
        json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{ceremony}");
    let public_key = &ceremony["options"]["publicKey"];
    assert_eq!(public_key["rp"]["id"], "localhost");
    assert_eq!(public_key["user"]["name"], "olga");
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "required"
    );
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    let state = ceremony["state"].as_str().expect("state").to_owned();

    // Another site's page, a form post, no session: refused before anything else.
    let (status, body) = call(
        &server,
        Some(&browser),
        "/account/passkeys/options",
        Some("https://evil.example"),
        json!({}),
    )
    .await;
    assert_eq!((status, &body["error"]), (403, &json!("invalid_origin")));
    let form = browser
        .client()
        .post(server.url("/account/passkeys/options"))
        .header("origin", ISSUER)
        .form(&[("a", "b")])
        .send()
        .await
        .expect("form");
    assert_eq!(form.status(), 415);
    let (status, _) = call(
        &server,
        None,
        "/account/passkeys/options",
        Some(ISSUER),
        json!({}),
    )
    .await;
    assert_eq!(status, 401, "no session");

    // A forged response is refused (and, unverified, spends nothing: junk cannot fill the
    // replay memory); the state is another user's to this one.
    let forged = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}
    });
    let finish = json!({"state": state, "name": "Laptop", "credential": forged});
    for _ in 0..2 {
        let (status, body) = call(
            &server,
            Some(&browser),
            "/account/passkeys",
            Some(ISSUER),
            finish.clone(),
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (401, &json!("invalid_passkey")),
            "{body}"
        );
    }
    server.add_user("piet", &[], PASSWORD).await;
    let piet = signed_in(&server, "piet").await;
    let (status, body) = call(
        &server,
        Some(&piet),
        "/account/passkeys",
        Some(ISSUER),
        finish,
    )
    .await;
    assert_eq!((status, &body["error"]), (400, &json!("expired")), "{body}");
    let (status, body) = call(
        &server,
        Some(&browser),
        "/account/passkeys",
        Some(ISSUER),
        json!({"state": "forged", "name": "x", "credential": {}}),
    )
    .await;
    assert_eq!((status, &body["error"]), (400, &json!("expired")));
    let (status, body) = call(
        &server,
        Some(&browser),
        "/account/passkeys",
        Some(ISSUER),
        json!({"state": "x", "name": "", "credential": {}}),
    )
    .await;
    assert_eq!((status, &body["error"]), (400, &json!("invalid_name")));

    // Sign-in options need no session; the second factor's need a right password first.
    let (status, ceremony) = call(
        &server,
        None,
        "/signin/passkey/options",
        Some(ISSUER),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ceremony["options"]["mediation"], "conditional");
    assert_eq!(ceremony["options"]["publicKey"]["rpId"], "localhost");
    let (status, _) = call(
        &server,
        None,
        "/signin/code/passkey/options",
        Some(ISSUER),
        json!({}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = call(
        &server,
        None,
        "/signin/passkey",
        Some(ISSUER),
        json!({"state": ceremony["state"], "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": "AAAA"}}}),
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (401, &json!("invalid_passkey")),
        "{body}"
    );
    let failures = super::support::audit_details(&server, "sign_in").await;
    assert!(
        failures
            .iter()
            .any(|detail| detail.contains("passkey refused")),
        "a refused passkey is audited: {failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preferred_user_verification_is_asked_for_but_never_for_a_passkey_alone() {
    let server = on_localhost(TestOptions {
        passkey_user_verification: portcullis_core::passkey::UserVerification::Preferred,
        ..TestOptions::default()
    })
    .await;
    server.add_user("pia", &[], PASSWORD).await;
    let browser = signed_in(&server, "pia").await;
    let (status, ceremony) = call(
        &server,
        Some(&browser),
        "/account/passkeys/options",
        Some(ISSUER),
        json!({"current_password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{ceremony}");
    let public_key = &ceremony["options"]["publicKey"];
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "preferred"
    );
    // Browsers make a discoverable credential on a security key only behind a PIN: preferred.
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    // A security key without a PIN answers only when the credential is named (the second
    // factor), never to a sign-in that names no user.
    assert_eq!(
        public_key["extensions"]["credentialProtectionPolicy"],
        "userVerificationOptionalWithCredentialIDList"
    );
    let (status, sign_in) = call(
        &server,
        None,
        "/signin/passkey/options",
        Some(ISSUER),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{sign_in}");
    assert_eq!(
        sign_in["options"]["publicKey"]["userVerification"],
        "required"
    );
}

#[tokio::test]
async fn an_issuer_on_an_ip_address_has_no_passkeys() {
    let server = TestAuthServer::start().await;
    let (_, page) = Browser::new().page(&server.url("/signin")).await;
    assert!(!page.contains("passkeys.js"), "{page}");
    let (status, body) = call(
        &server,
        None,
        "/signin/passkey/options",
        Some(&server.base_url),
        json!({}),
    )
    .await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
}

/// A registered passkey as the store keeps it (the ceremony that makes one runs in Chromium).
async fn stored_passkey(server: &TestAuthServer, username: &str, id: u8) -> Vec<u8> {
    let user = server
        .state
        .store
        .find_user_by_username(username)
        .await
        .expect("find")
        .expect("user");
    let credential_id = vec![id; 16];
    server
        .state
        .store
        .add_passkey(&portcullis_core::passkey::PasskeyRecord {
            credential_id: credential_id.clone(),
            user_id: user.id,
            name: "Laptop".into(),
            credential: "{}".into(),
            backup_eligible: false,
            backed_up: false,
            created_at: 1,
            last_used_at: None,
        })
        .await
        .expect("passkey");
    credential_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_a_passkey_is_asked_for_it_and_cannot_swap_in_an_app() {
    let server = on_localhost(TestOptions::default()).await;
    server.add_user("quinn", &[], PASSWORD).await;
    stored_passkey(&server, "quinn", 1).await;
    let browser = Browser::new();
    let (_, page) = browser
        .page(&server.url("/signin?return_to=/account"))
        .await;
    let mut fields = hidden_fields(&page);
    fields.push(("username".into(), "quinn".into()));
    fields.push(("password".into(), PASSWORD.into()));
    let response = browser.post(&server.url("/signin"), &fields).await;
    assert!(location(&response, &server.base_url).starts_with(&server.url("/signin/code")));
    let (status, code_page) = browser.page(&server.url("/signin/code")).await;
    assert_eq!(status, 200);
    assert!(code_page.contains("id=\"passkey-verify\""), "{code_page}");
    assert!(
        !code_page.contains("one-time-code"),
        "no app, so no code field"
    );
    // Whoever knows the password cannot set up an app instead of proving the passkey.
    let enroll = browser.get(&server.url("/signin/enroll")).await;
    assert!(location(&enroll, &server.base_url).starts_with(&server.url("/signin/code")));
    let mut posted: Vec<(String, String)> = hidden_fields(&page)
        .into_iter()
        .filter(|(name, _)| name == "csrf_token")
        .collect();
    posted.push(("code".into(), "123456".into()));
    let enroll = browser.post(&server.url("/signin/enroll"), &posted).await;
    assert!(location(&enroll, &server.base_url).starts_with(&server.url("/signin/code")));
    assert_eq!(
        browser.page(&server.url("/account")).await.0,
        303,
        "no session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_passkey_needs_the_password() {
    let server = on_localhost(TestOptions::default()).await;
    server.add_user("rae", &[], PASSWORD).await;
    let browser = signed_in(&server, "rae").await;
    let id = portcullis_jose::base64url::encode(stored_passkey(&server, "rae", 2).await);
    let (_, account) = browser.page(&server.url("/account")).await;
    assert!(account.contains("<strong>Laptop</strong>"), "{account}");
    let csrf = hidden_fields(&account)
        .into_iter()
        .find(|(name, _)| name == "csrf_token")
        .expect("csrf");
    let remove = |password: &str| {
        vec![
            csrf.clone(),
            ("credential_id".to_owned(), id.clone()),
            ("current_password".to_owned(), password.to_owned()),
        ]
    };
    let refused = browser
        .post(&server.url("/account/passkeys/remove"), &remove("not it"))
        .await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused
            .text()
            .await
            .expect("html")
            .contains("<strong>Laptop</strong>")
    );
    let removed = browser
        .post(&server.url("/account/passkeys/remove"), &remove(PASSWORD))
        .await;
    assert_eq!(removed.status(), 200);
    let html = removed.text().await.expect("html");
    assert!(html.contains("The passkey was removed.") && !html.contains("<strong>Laptop</strong>"));
}
