//! A changed password signs its user out everywhere: `admin user set-password` ends every
//! session and refresh token family of the user and puts their tokens on the revocation feed.

use super::browser::{APP, Browser, PASSWORD, app_client, refresh, sign_in_for_tokens};
use super::support::{admin, introspect, resource_server, stdout};
use portcullis_testkit::TestAuthServer;
use serde_json::Value;

async fn active(server: &TestAuthServer, secret: &str, token: &str) -> bool {
    introspect(server, secret, token).await["active"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_ends_every_session_and_grant_of_the_user() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    let (_, rs_secret) = server.add_client(resource_server("rs")).await;
    let rs_secret = rs_secret.expect("secret");
    server.add_user("alice", &["user"], PASSWORD).await;
    server.add_user("bob", &["user"], PASSWORD).await;
    // Alice on two devices, and Bob.
    let (laptop, phone, bobs) = (Browser::new(), Browser::new(), Browser::new());
    let mut alices = Vec::new();
    for browser in [&laptop, &phone] {
        alices.push(sign_in_for_tokens(browser, &server, "openid offline_access", "alice").await);
    }
    let bob = sign_in_for_tokens(&bobs, &server, "openid offline_access", "bob").await;
    let text = |tokens: &Value, name: &str| tokens[name].as_str().expect(name).to_owned();
    // One of Alice's grants was refreshed: its older access token must go too.
    let refreshed: Value = refresh(&server, &text(&alices[0], "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    let mut alice_access: Vec<String> = alices.iter().map(|t| text(t, "access_token")).collect();
    alice_access.push(text(&refreshed, "access_token"));
    for token in &alice_access {
        assert!(active(&server, &rs_secret, token).await);
    }

    let changed = admin(
        server.data_dir(),
        &["user", "set-password", "alice", "--password-stdin"],
        "a brand new passphrase\n",
        &[],
    )
    .await;
    assert!(changed.status.success(), "{changed:?}");
    assert!(
        stdout(&changed).contains("2 session(s) ended"),
        "{}",
        stdout(&changed)
    );

    for token in &alice_access {
        assert!(
            !active(&server, &rs_secret, token).await,
            "access token revoked"
        );
    }
    for token in [
        text(&refreshed, "refresh_token"),
        text(&alices[1], "refresh_token"),
    ] {
        assert_eq!(
            refresh(&server, &token).await.status(),
            400,
            "refresh family ended"
        );
    }
    // The browsers' sessions are gone: authorizing asks for the password again.
    let again = laptop
        .get(&server.url(&format!(
            "/authorize?response_type=code&client_id={APP}&redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scope=openid",
            super::browser::CALLBACK
        )))
        .await;
    let target = super::browser::location(&again, &server.base_url);
    assert!(target.contains("/signin?"), "{target}");
    // Gateways learn it from the feed: every session of Alice is on it.
    let now = server.now();
    let feed = server
        .state
        .store
        .revocations_after(0, 100, now)
        .await
        .expect("feed");
    let sessions = feed
        .entries
        .iter()
        .filter(|entry| entry.kind == portcullis_core::RevocationKind::Session)
        .count();
    assert_eq!(sessions, 2);
    // Bob is untouched.
    assert!(active(&server, &rs_secret, &text(&bob, "access_token")).await);
    assert_eq!(
        refresh(&server, &text(&bob, "refresh_token"))
            .await
            .status(),
        200
    );
}
