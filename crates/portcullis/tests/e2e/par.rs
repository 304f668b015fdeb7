//! Pushed authorization requests (RFC 9126) end to end: a client pushes its request to `/par`,
//! the browser carries only `client_id` and the `request_uri` through sign-in and consent, the
//! code exchanges as usual, and the reference is then spent; pushes are validated as
//! `/authorize` would, bound to their client and short-lived; a server can require them.

use super::browser::{
    APP, Browser, CALLBACK, app_client, authorize, exchange, location, pkce_pair, query_param,
};
use super::support::{discovery, http};
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_testkit::{ManualClock, TestAuthServer, TestOptions};
use serde_json::Value;

const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters of an authorization request of the public app, with `extra`.
fn request<'a>(challenge: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", APP),
        ("redirect_uri", CALLBACK),
        ("scope", "openid api:read"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    params
}

async fn push(server: &TestAuthServer, form: &[(&str, &str)]) -> (u16, Value) {
    let response = http()
        .post(server.url("/par"))
        .form(form)
        .send()
        .await
        .expect("push");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn authorize_url(server: &TestAuthServer, client_id: &str, request_uri: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri)
        .finish();
    server.url(&format!("/authorize?{query}"))
}

/// A server on a clock the test moves, with the public app registered.
async fn with_manual_clock() -> (std::sync::Arc<ManualClock>, TestAuthServer) {
    let clock = ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        clock: clock.clone(),
        ..TestOptions::default()
    })
    .await;
    server.add_client(app_client()).await;
    (clock, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_request_signs_in_with_only_its_reference_in_the_browser() {
    let (clock, server) = with_manual_clock().await;
    server
        .add_user("alice", &["user"], super::browser::PASSWORD)
        .await;
    let metadata = discovery(&server).await;
    assert_eq!(
        metadata["pushed_authorization_request_endpoint"],
        server.url("/par")
    );
    assert!(
        metadata
            .get("require_pushed_authorization_requests")
            .is_none()
    );

    let (verifier, challenge) = pkce_pair();
    // `prompt=login` is honoured once: the sign-in it leads to satisfies it.
    let (status, pushed) = push(&server, &request(&challenge, &[("prompt", "login")])).await;
    assert_eq!(status, 201, "{pushed}");
    let request_uri = pushed["request_uri"].as_str().expect("request_uri");
    assert!(request_uri.starts_with(PREFIX), "{request_uri}");
    assert_eq!(pushed["expires_in"], 90);

    let url = authorize_url(&server, APP, request_uri);
    let browser = Browser::new();
    let callback = authorize(&browser, &server, &url, "alice").await;
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-1"));
    let code = query_param(&callback, "code").expect("code");
    let tokens = exchange(&server, &code, &verifier).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.expect("json");
    assert!(
        tokens["id_token"].is_string(),
        "openid was pushed: {tokens}"
    );

    // Answered once: the same reference is spent.
    let (status, page) = browser.page(&url).await;
    assert_eq!(status, 400);
    assert!(page.contains("expired or was used already"), "{page}");

    // Signed in already, a pushed `prompt=login` still asks for a sign-in, and nothing the
    // browser adds waives it (the parameters are the pushed ones).
    clock.advance(5);
    let (verifier, challenge) = pkce_pair();
    let (_, pushed) = push(&server, &request(&challenge, &[("prompt", "login")])).await;
    let request_uri = pushed["request_uri"].as_str().expect("request_uri");
    let url = authorize_url(&server, APP, request_uri);
    for sneaky in [
        url.clone(),
        format!("{url}&prompt=none&prompt_satisfied=login"),
    ] {
        let response = browser.get(&sneaky).await;
        assert!(
            location(&response, &server.base_url).starts_with(&server.url("/signin")),
            "{sneaky}: {response:?}"
        );
    }
    let callback = authorize(&browser, &server, &url, "alice").await;
    let code = query_param(&callback, "code").expect("code after signing in again");
    assert_eq!(exchange(&server, &code, &verifier).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_validated_bound_to_their_client_and_short_lived() {
    let (clock, server) = with_manual_clock().await;
    let (_, secret) = server
        .add_client(ClientRegistration {
            id: "web".into(),
            kind: ClientKind::Confidential,
            redirect_uris: vec!["https://web.example/cb".into()],
            ..app_client()
        })
        .await;
    let secret = secret.expect("secret");
    let (_, challenge) = pkce_pair();

    // §2.1: validated as /authorize would, answered in the token endpoint's error format.
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
        ),
        (&[("scope", "openid admin")], "invalid_scope"),
        (
            &[("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
        ),
        (&[("response_type", "token")], "invalid_request"),
    ];
    for (change, expected) in cases {
        let mut form = request(&challenge, &[]);
        for (name, value) in change {
            form.retain(|(existing, _)| existing != name);
            form.push((*name, *value));
        }
        let (status, body) = push(&server, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(expected)),
            "{change:?}: {body}"
        );
    }
    // Anyone can push for a public client, so its pending requests count per address: 20.
    for _ in 0..20 {
        assert_eq!(push(&server, &request(&challenge, &[])).await.0, 201);
    }
    let (status, body) = push(&server, &request(&challenge, &[])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("temporarily_unavailable"))
    );
    clock.advance(91);
    // A public client must use PKCE.
    let mut without_pkce = request(&challenge, &[]);
    without_pkce.retain(|(name, _)| !name.starts_with("code_challenge"));
    assert_eq!(push(&server, &without_pkce).await.0, 400);

    // A confidential client authenticates; with a wrong secret it is refused.
    let web_form = [
        ("response_type", "code"),
        ("redirect_uri", "https://web.example/cb"),
        ("scope", "api:read"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let refused = http()
        .post(server.url("/par"))
        .basic_auth("web", Some("wrong"))
        .form(&web_form)
        .send()
        .await
        .expect("push");
    assert_eq!(refused.status(), 401);
    let pushed: Value = http()
        .post(server.url("/par"))
        .basic_auth("web", Some(&secret))
        .form(&web_form)
        .send()
        .await
        .expect("push")
        .json()
        .await
        .expect("json");
    let web_uri = pushed["request_uri"].as_str().expect("request_uri");

    let browser = Browser::new();
    // Another client cannot use it (§4), nor a made-up reference.
    for url in [
        authorize_url(&server, APP, web_uri),
        authorize_url(
            &server,
            "web",
            &format!("{PREFIX}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
    ] {
        let (status, page) = browser.page(&url).await;
        assert_eq!(status, 400, "{url}");
        assert!(page.contains("expired or was used already"), "{page}");
    }
    // A request object by reference (RFC 9101 §5.2) from a URL the client did not register is
    // refused, at the redirect URI, and never fetched.
    let by_reference = super::browser::authorize_url(
        &server,
        "api:read",
        &challenge,
        &[("request_uri", "https://app.example/request.jwt")],
    );
    let refused = location(&browser.get(&by_reference).await, &server.base_url);
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("invalid_request_uri"),
        "{refused}"
    );
    // Its client can, until it expires unused after 90 seconds.
    let response = browser.get(&authorize_url(&server, "web", web_uri)).await;
    assert!(
        location(&response, &server.base_url).starts_with(&server.url("/signin")),
        "{response:?}"
    );
    let (status, later) = push(&server, &request(&challenge, &[])).await;
    assert_eq!(status, 201);
    clock.advance(91);
    let (status, _) = browser
        .page(&authorize_url(
            &server,
            APP,
            later["request_uri"].as_str().expect("request_uri"),
        ))
        .await;
    assert_eq!(status, 400, "expired before use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_requiring_pushed_requests_refuses_plain_ones() {
    let server = TestAuthServer::start_with(TestOptions {
        require_pushed_authorization_requests: true,
        ..TestOptions::default()
    })
    .await;
    server.add_client(app_client()).await;
    assert_eq!(
        discovery(&server).await["require_pushed_authorization_requests"],
        true
    );
    refuses_plain_and_takes_pushed(&server, "bob").await;
}

/// RFC 9126 §6: a client registered with `require_pushed_authorization_requests` gets the same
/// refusal on a server that takes plain requests from other clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_requiring_pushed_requests_refuses_its_plain_ones() {
    let server = TestAuthServer::start().await;
    server
        .add_client(ClientRegistration {
            require_pushed_authorization_requests: true,
            ..app_client()
        })
        .await;
    assert!(
        discovery(&server)
            .await
            .get("require_pushed_authorization_requests")
            .is_none()
    );
    refuses_plain_and_takes_pushed(&server, "carol").await;
}

/// A plain request of the app is refused at its redirect URI; a pushed one signs `username` in.
async fn refuses_plain_and_takes_pushed(server: &TestAuthServer, username: &str) {
    server
        .add_user(username, &["user"], super::browser::PASSWORD)
        .await;
    let (verifier, challenge) = pkce_pair();
    let plain = super::browser::authorize_url(server, "openid api:read", &challenge, &[]);
    let response = Browser::new().get(&plain).await;
    let refused = location(&response, &server.base_url);
    assert!(refused.starts_with(CALLBACK), "{refused}");
    assert_eq!(
        query_param(&refused, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&refused, "state").as_deref(), Some("st-1"));

    let (status, pushed) = push(server, &request(&challenge, &[])).await;
    assert_eq!(status, 201);
    let url = authorize_url(server, APP, pushed["request_uri"].as_str().expect("uri"));
    let callback = authorize(&Browser::new(), server, &url, username).await;
    let code = query_param(&callback, "code").expect("code");
    assert_eq!(exchange(server, &code, &verifier).await.status(), 200);
}
