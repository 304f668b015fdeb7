//! Roles grant scopes: a scope that a role lists reaches a user's tokens only through that role,
//! at the consent page, the code exchange and every refresh (so a demotion narrows the next
//! refreshed token); scopes no role lists stay open.

use super::browser::{
    Browser, app_client, authorize, authorize_url, exchange, pkce_pair, query_param, refresh,
    sign_in_for_tokens,
};
use portcullis_core::Role;
use portcullis_testkit::TestAuthServer;
use serde_json::Value;

const SCOPE: &str = "openid offline_access api:read";

async fn define_reader_role(server: &TestAuthServer) {
    let reader = Role::new("reader", vec!["api:read".into()], None).expect("role");
    server
        .state
        .store
        .put_role(&reader, server.now())
        .await
        .expect("put role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governed_scopes_reach_only_users_whose_roles_grant_them() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    define_reader_role(&server).await;
    server
        .add_user("alice", &["reader"], super::browser::PASSWORD)
        .await;
    server
        .add_user("bob", &["user"], super::browser::PASSWORD)
        .await;

    let alice = sign_in_for_tokens(&Browser::new(), &server, SCOPE, "alice").await;
    assert_eq!(alice["scope"], "api:read offline_access openid", "{alice}");

    // bob has no role granting api:read: his code and token do not carry it.
    let browser = Browser::new();
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(&server, SCOPE, &challenge, &[]);
    let callback = authorize(&browser, &server, &url, "bob").await;
    let code = query_param(&callback, "code").expect("code");
    let bob: Value = exchange(&server, &code, &verifier)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        bob["scope"], "offline_access openid",
        "RFC 6749 §3.3: the narrower scope granted is returned: {bob}"
    );

    // alice loses the role: her next refresh is narrower; given it back, it widens again.
    let refresh_token = alice["refresh_token"].as_str().expect("refresh token");
    server
        .state
        .store
        .set_roles("alice", &[])
        .await
        .expect("demote");
    let demoted: Value = refresh(&server, refresh_token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(demoted["scope"], "offline_access openid", "{demoted}");
    server
        .state
        .store
        .set_roles("alice", &["reader".into()])
        .await
        .expect("promote");
    let restored: Value = refresh(&server, demoted["refresh_token"].as_str().expect("rotated"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        restored["scope"], "api:read offline_access openid",
        "{restored}"
    );

    // Without the role defined, api:read is open to everyone again.
    server
        .state
        .store
        .delete_role("reader")
        .await
        .expect("delete role");
    let open = sign_in_for_tokens(&Browser::new(), &server, SCOPE, "bob").await;
    assert_eq!(open["scope"], "api:read offline_access openid", "{open}");
    server.stop().await;
}
