//! What goes wrong at an upstream is refused, audited and shown; local sign-in keeps working.

use super::super::browser::{Browser, PASSWORD};
use super::super::support::{audit_details, http};
use super::{Federated, corp, start_url};
use portcullis_auth::federation::FederationSettings;
use portcullis_core::federation::ProviderProtocol;
use portcullis_testkit::browser::{hidden_fields, location};
use portcullis_testkit::{TestAuthServer, TestOptions, free_loopback_address};

#[tokio::test]
async fn forged_and_replayed_callbacks_are_refused_and_audited() {
    let federated = Federated::start(|_| {}).await;
    let server = &federated.downstream;
    federated.upstream.add_user("alice", &[], PASSWORD).await;

    // A callback this browser never started (login CSRF): refused.
    let forged = Browser::new()
        .get(&server.url("/federation/corp/callback?code=stolen&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(forged.status(), 400);

    // A genuine round trip, its callback kept with the flow's cookie.
    let (up, down) = (Browser::new(), Browser::new());
    let to_upstream = down.get(&start_url(server, "/account")).await;
    let flow_cookie = to_upstream
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|cookie| cookie.starts_with("portcullis_fed_"))
        .and_then(|cookie| cookie.split(';').next())
        .expect("the flow's cookie")
        .to_owned();
    let authorize = location(&to_upstream, &server.base_url);
    let callback = up
        .authorize(
            &federated.upstream.base_url,
            &authorize,
            ("alice", PASSWORD),
            &server.url("/federation/corp/callback"),
        )
        .await;
    // The same answer with another state: refused, even with the flow's cookie.
    let tampered = callback.replace("state=", "state=x");
    let refused = http()
        .get(&tampered)
        .header("cookie", &flow_cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(refused.status(), 400);
    let first = http()
        .get(&callback)
        .header("cookie", &flow_cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(first.status(), 303, "the genuine callback signs in");
    // Replayed with the cookie still at hand: refused before the code is tried again.
    let replayed = http()
        .get(&callback)
        .header("cookie", &flow_cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(replayed.status(), 400);
    let text = replayed.text().await.expect("page");
    assert!(text.contains("used already"), "{text}");
    let audit = audit_details(server, "federation").await;
    assert!(
        audit
            .iter()
            .any(|event| event.contains("callback replayed")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|event| event.contains("state does not match")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_refusal_at_the_upstream_is_shown() {
    let federated = Federated::start(|_| {}).await;
    federated.upstream.add_user("alice", &[], PASSWORD).await;
    // The upstream asks for consent (not first-party), and the user says no.
    let upstream = &federated.upstream;
    let client = upstream
        .state
        .store
        .find_client("downstream")
        .await
        .expect("find")
        .expect("client");
    let mut client = client;
    client.first_party = false;
    upstream
        .state
        .store
        .update_client(&client)
        .await
        .expect("update");
    let (up, down) = (Browser::new(), Browser::new());
    let to_upstream = down
        .get(&start_url(&federated.downstream, "/account"))
        .await;
    let authorize = location(&to_upstream, &federated.downstream.base_url);
    let (_, consent) = up
        .open_signed_in(&upstream.base_url, &authorize, ("alice", PASSWORD))
        .await;
    let mut fields = hidden_fields(&consent);
    fields.push(("decision".into(), "deny".into()));
    let denied = up.post(&upstream.url("/authorize"), &fields).await;
    let callback = location(&denied, &upstream.base_url);
    let shown = down.get(&callback).await;
    assert_eq!(shown.status(), 403);
    let page = shown.text().await.expect("page");
    assert!(
        page.contains("Corp SSO did not sign you in: access_denied"),
        "{page}"
    );
    assert!(
        audit_details(&federated.downstream, "federation")
            .await
            .iter()
            .any(|event| event.contains("access_denied"))
    );
}

#[tokio::test]
async fn an_upstream_outage_shows_a_page_and_password_sign_in_still_works() {
    let placeholder = TestAuthServer::start().await;
    let mut provider = corp(&placeholder, "secret");
    provider.protocol = ProviderProtocol::OpenIdConnect {
        issuer: format!("http://{}", free_loopback_address()),
    };
    let server = TestAuthServer::start_with(TestOptions {
        federation: FederationSettings {
            providers: vec![provider],
            local_sign_in: true,
        },
        ..TestOptions::default()
    })
    .await;
    server.add_user("dana", &[], PASSWORD).await;
    let browser = Browser::new();
    let down = browser.get(&start_url(&server, "/account")).await;
    assert_eq!(down.status(), 503);
    let page = down.text().await.expect("page");
    assert!(
        page.contains("Corp SSO cannot be reached right now"),
        "{page}"
    );
    let (status, account) = browser
        .open_signed_in(
            &server.base_url,
            &server.url("/account"),
            ("dana", PASSWORD),
        )
        .await;
    assert_eq!(status, 200);
    assert!(account.contains("Signed in as <strong>dana</strong>"));
}
