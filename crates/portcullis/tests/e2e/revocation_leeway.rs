//! A revocation outlives its token by the verifiers' leeway: a gateway accepts a token that long
//! past its `exp`, so the entry must still be on the feed (and honoured) until then.

use super::support::{access_token, http, service_client};
use portcullis_core::RevocationKind;
use portcullis_testkit::{ManualClock, TestAuthServer, TestOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stays_revoked_through_the_leeway() {
    let clock = ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        clock: clock.clone(),
        access_token_lifetime_secs: 120,
        ..TestOptions::default()
    })
    .await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let token = access_token(&server, "svc", &secret).await;
    let revoked = http()
        .post(server.url("/revoke"))
        .basic_auth("svc", Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    let expiry = server.now() + 120;
    let on_feed = |now: i64| {
        let store = server.state.store.clone();
        async move {
            store
                .revocations_after(0, 10, now)
                .await
                .expect("feed")
                .entries
                .into_iter()
                .any(|entry| entry.kind == RevocationKind::TokenId)
        }
    };
    // The test server's verifiers allow 60 s of leeway.
    clock.advance(120 + 45);
    assert!(
        on_feed(server.now()).await,
        "still on the feed 45 s after exp"
    );
    assert_eq!(server.now(), expiry + 45);
    clock.advance(20);
    assert!(
        !on_feed(server.now()).await,
        "gone once exp + leeway has passed"
    );
}
