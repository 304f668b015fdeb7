//! OpenID Connect Back-Channel Logout 1.0: a client that registered a `backchannel_logout_uri`
//! and got tokens in a session is sent a logout token when the session ends, verified here with an
//! independent JOSE implementation (`jsonwebtoken`): typed `logout+jwt`, signed with the id token
//! keys, naming the session and user, with the logout event and no nonce. A client that is down
//! or answers an error is tried again, and a notice survives a restart of the server.

use super::browser::{APP, PASSWORD, app_client, sign_in_for_tokens};
use super::support::{audit_details, claims_of, discovery, jwks, verify_typed};
use portcullis_core::ClientRegistration;
use portcullis_core::logout_notice::BACKCHANNEL_LOGOUT_EVENT;
use portcullis_testkit::browser::Browser;
use portcullis_testkit::{ManualClock, TestAuthServer, TestOptions};
use serde_json::Value;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A relying party's back-channel logout endpoint: it answers with `status` and keeps every
/// logout token it was sent.
#[derive(Clone)]
struct TestRelyingParty {
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<String>>>,
}

impl TestRelyingParty {
    /// Listens on `listener`, answering `status`.
    fn serve(listener: tokio::net::TcpListener, status: u16) -> TestRelyingParty {
        let party = TestRelyingParty {
            status: Arc::new(AtomicU16::new(status)),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let state = party.clone();
        let app = axum::Router::new().route(
            "/backchannel",
            axum::routing::post(
                move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                    let state = state.clone();
                    async move {
                        if let Some(token) = form.get("logout_token") {
                            state.received.lock().expect("lock").push(token.clone());
                        }
                        axum::http::StatusCode::from_u16(state.status.load(Ordering::SeqCst))
                            .expect("status")
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        party
    }

    /// Waits until `count` tokens arrived; all of them.
    async fn wait_for(&self, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let received = self.received.lock().expect("lock").clone();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the relying party did not receive {count} logout tokens");
    }
}

fn backchannel_app(uri: &str) -> ClientRegistration {
    ClientRegistration {
        backchannel_logout_uri: Some(uri.to_owned()),
        ..app_client()
    }
}

/// Signs alice in through the app and ends her session through RP-initiated logout; the claims
/// of the id token she had.
async fn sign_in_and_out(server: &TestAuthServer) -> Value {
    let browser = Browser::new();
    let tokens = sign_in_for_tokens(&browser, server, "openid", "alice").await;
    let id_token = tokens["id_token"].as_str().expect("id token");
    let confirm = browser
        .get(&server.url(&format!("/logout?id_token_hint={id_token}")))
        .await;
    assert_eq!(confirm.status(), 200);
    let fields =
        portcullis_testkit::browser::hidden_fields(&confirm.text().await.expect("confirmation"));
    let done = browser.post(&server.url("/logout"), &fields).await;
    assert!(done.status().is_success() || done.status().is_redirection());
    claims_of(id_token)
}

#[tokio::test]
async fn the_client_gets_a_signed_logout_token_and_a_refusal_is_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uri = format!(
        "http://{}/backchannel",
        listener.local_addr().expect("addr")
    );
    let party = TestRelyingParty::serve(listener, 503);
    let clock = ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        clock: clock.clone(),
        ..TestOptions::default()
    })
    .await;
    server.add_client(backchannel_app(&uri)).await;
    server.add_user("alice", &["user"], PASSWORD).await;

    let id_token = sign_in_and_out(&server).await;
    let first = party.wait_for(1).await;
    party.status.store(200, Ordering::SeqCst);
    // The retry is due 5 s (on the test's clock) after the failure is recorded, which happens
    // just after the party answered: the clock moves on until the retry came.
    for _ in 0..100 {
        clock.advance(6);
        if party.received.lock().expect("lock").len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = party.wait_for(2).await;
    assert_ne!(first[0], received[1], "each attempt is a new token");

    let jwks = jwks(&server.base_url).await;
    let claims = verify_typed(&received[1], "logout+jwt", &jwks, &server.base_url, APP)
        .expect("a logout token verified independently");
    assert_eq!(claims["sid"], id_token["sid"], "names the session");
    assert_eq!(claims["sub"], id_token["sub"], "names the user");
    assert_eq!(
        claims["events"][BACKCHANNEL_LOGOUT_EVENT],
        serde_json::json!({})
    );
    assert!(claims["jti"].is_string());
    assert!(claims.get("nonce").is_none());

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        party.received.lock().expect("lock").len(),
        2,
        "delivered once, then no more"
    );
    let delivered = !audit_details(&server, "backchannel_logout_delivered")
        .await
        .is_empty();
    assert!(delivered, "the delivery is audited");

    let discovery = discovery(&server).await;
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_session_supported"], true);
}

#[tokio::test]
async fn a_notice_for_a_client_that_is_down_survives_a_restart() {
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = reserved.local_addr().expect("addr");
    drop(reserved);
    let uri = format!("http://{address}/backchannel");
    let server = TestAuthServer::start().await;
    server.add_client(backchannel_app(&uri)).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    sign_in_and_out(&server).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = server
        .state
        .store
        .logout_notice_status()
        .await
        .expect("status");
    assert_eq!(
        status.pending, 1,
        "the notice waits while the client is down"
    );
    let dir = server.stop().await.expect("owned directory");

    let listener = tokio::net::TcpListener::bind(address)
        .await
        .expect("rebind");
    let party = TestRelyingParty::serve(listener, 200);
    let restarted = TestAuthServer::start_in_dir(dir.path(), TestOptions::default()).await;
    let received = party.wait_for(1).await;
    assert_eq!(claims_of(&received[0])["aud"], APP);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        restarted
            .state
            .store
            .logout_notice_status()
            .await
            .expect("status")
            .pending,
        0
    );
    restarted.stop().await;
}

#[tokio::test]
async fn a_code_of_an_ended_session_cannot_be_redeemed() {
    use super::browser::{authorize, authorize_url, exchange, pkce_pair, query_param};
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    let alice = server.add_user("alice", &["user"], PASSWORD).await;
    let (verifier, challenge) = pkce_pair();
    let callback = authorize(
        &Browser::new(),
        &server,
        &authorize_url(&server, "openid", &challenge, &[]),
        "alice",
    )
    .await;
    let code = query_param(&callback, "code").expect("code");
    let sessions = server
        .state
        .sessions
        .list_sessions_of_user(&alice.id)
        .await
        .expect("sessions");
    server
        .state
        .revoker()
        .revoke_session(&sessions[0].sid, server.now())
        .await
        .expect("end the session");
    let response = exchange(&server, &code, &verifier).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant", "{body}");
}

#[tokio::test]
async fn another_user_signing_in_on_the_same_browser_signs_the_first_out_everywhere() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uri = format!(
        "http://{}/backchannel",
        listener.local_addr().expect("addr")
    );
    let party = TestRelyingParty::serve(listener, 200);
    let server = TestAuthServer::start().await;
    server.add_client(backchannel_app(&uri)).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    server.add_user("bob", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let alice_tokens = sign_in_for_tokens(&browser, &server, "openid", "alice").await;
    let alice_sid = claims_of(alice_tokens["id_token"].as_str().expect("id token"))["sid"].clone();
    // bob signs in on the same browser, through a fresh sign-in.
    let (_, challenge) = super::browser::pkce_pair();
    let callback = super::browser::authorize(
        &browser,
        &server,
        &super::browser::authorize_url(&server, "openid", &challenge, &[("prompt", "login")]),
        "bob",
    )
    .await;
    assert!(callback.contains("code="), "{callback}");
    let received = party.wait_for(1).await;
    assert_eq!(
        claims_of(&received[0])["sid"],
        alice_sid,
        "alice's session ended"
    );
}
