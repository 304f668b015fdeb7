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
    let server = TestAuthServer::start_with(TestOptions {
        issuer: Some(ISSUER.into()),
        ..TestOptions::default()
    })
    .await;
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

    let (status, ceremony) = call(
        &server,
        Some(&browser),
        "/account/passkeys/options",
        Some(ISSUER),
        json!({}),
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

    // A forged response is refused; the state is then spent.
    let forged = json!({
        "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}
    });
    let finish = json!({"state": state, "name": "Laptop", "credential": forged});
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
    let (status, body) = call(
        &server,
        Some(&browser),
        "/account/passkeys",
        Some(ISSUER),
        finish,
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("expired")),
        "single use: {body}"
    );
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
