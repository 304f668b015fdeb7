//! The web-app example against a real auth server: a user signs in through it and sees the
//! protected page, with nothing but a session cookie in the browser; a callback without the
//! sign-in it belongs to, or used twice, is refused.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_sdk::client::{ClientConfig, RelyingParty};
use portcullis_testkit::TestAuthServer;
use portcullis_testkit::browser::{Browser, location};
use portcullis_types::GrantType;

const PASSWORD: &str = "correct horse battery staple";

async fn web_app(server: &TestAuthServer) -> String {
    let (_, secret) = server
        .add_client(ClientRegistration {
            // Loopback: any port (RFC 8252 §7.3).
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            scopes: vec!["openid".into(), "profile".into()],
            first_party: true,
            ..ClientRegistration::new(
                "demo-web-app",
                ClientKind::Confidential,
                vec![GrantType::AuthorizationCode],
            )
        })
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let relying_party = RelyingParty::discover(
        &server.base_url,
        ClientConfig {
            client_id: "demo-web-app".into(),
            client_secret: secret,
            redirect_uri: format!("{base}/callback"),
        },
    )
    .await
    .expect("discovery");
    let app = web_app::router(web_app::WebApp::new(relying_party));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The page at `url`, as `browser` gets it.
async fn page(browser: &Browser, url: &str) -> String {
    browser.get(url).await.text().await.expect("page")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_through_the_app_which_keeps_the_tokens() {
    let server = TestAuthServer::start().await;
    server.add_user("ada", &["user"], PASSWORD).await;
    let app = web_app(&server).await;
    let browser = Browser::new();

    let home = page(&browser, &format!("{app}/")).await;
    assert!(home.contains("Not signed in"), "{home}");
    let to_provider = browser.get(&format!("{app}/login")).await;
    let set_cookie = to_provider.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let authorize = location(&to_provider, &app);
    assert!(
        authorize.starts_with(&server.url("/authorize?")),
        "{authorize}"
    );
    let callback = browser
        .authorize(
            &server.base_url,
            &authorize,
            ("ada", PASSWORD),
            &format!("{app}/callback"),
        )
        .await;
    let back = browser.get(&callback).await;
    assert_eq!(location(&back, &app), format!("{app}/"));
    let signed_in = page(&browser, &format!("{app}/")).await;
    assert!(
        signed_in.contains("Signed in as <strong>ada</strong>"),
        "{signed_in}"
    );
    assert!(!signed_in.contains("eyJ"), "no token reaches the browser");

    // The same callback again, or in a browser that did not start the sign-in: refused.
    let again = browser.get(&callback).await;
    assert_eq!(again.status(), 400);
    let stranger = Browser::new().get(&callback).await;
    assert_eq!(stranger.status(), 400);
    let still = page(&browser, &format!("{app}/")).await;
    assert!(
        still.contains("Signed in as"),
        "a refused callback changes nothing: {still}"
    );
}
