//! Forgotten passwords end to end, with a real SMTP server on loopback: the sign-in page links to
//! `/forgot`; the answer is the same for a known and an unknown address; the delivered link sets
//! a new password under the policy (a weak one is refused and the link keeps working), signs the
//! account out everywhere, and works once; a newer link supersedes an older one and links expire.

use super::browser::{Browser, PASSWORD, app_client, refresh, sign_in_for_tokens};
use super::email::{link_in, mailer};
use portcullis_testkit::browser::hidden_fields;
use portcullis_testkit::smtp::TestSmtp;
use portcullis_testkit::{ManualClock, TestAuthServer, TestOptions};
use std::time::Duration;

const NEW_PASSWORD: &str = "velvet otter juggles quinces";

async fn ask_for_link(browser: &Browser, server: &TestAuthServer, email: &str) -> (u16, String) {
    let form = browser.get(&server.url("/forgot")).await;
    assert_eq!(form.status(), 200);
    let mut fields = hidden_fields(&form.text().await.expect("html"));
    fields.push(("email".into(), email.into()));
    let answer = browser.post(&server.url("/forgot"), &fields).await;
    let status = answer.status().as_u16();
    (status, answer.text().await.expect("html"))
}

async fn choose(browser: &Browser, link: &str, password: &str) -> (u16, String) {
    let form = browser.get(link).await;
    let status = form.status().as_u16();
    let html = form.text().await.expect("html");
    if status != 200 {
        return (status, html);
    }
    let mut fields = hidden_fields(&html);
    fields.push(("password".into(), password.into()));
    let base = link.split("/reset").next().expect("base");
    let answer = browser.post(&format!("{base}/reset"), &fields).await;
    let status = answer.status().as_u16();
    (status, answer.text().await.expect("html"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_by_a_single_use_link() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = TestAuthServer::start_with(TestOptions {
        mailer: Some(mailer(&smtp)),
        ..TestOptions::default()
    })
    .await;
    server.add_client(app_client()).await;
    server.add_user("alice", &["user"], PASSWORD).await;
    let signed_in =
        sign_in_for_tokens(&Browser::new(), &server, "openid offline_access", "alice").await;
    let refresh_token = signed_in["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();

    let browser = Browser::new();
    let sign_in = browser
        .get(&server.url("/signin"))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        sign_in.contains("href=\"/forgot\""),
        "the sign-in page links to /forgot"
    );
    let (known_status, known) = ask_for_link(&browser, &server, "ALICE@example.com").await;
    let (unknown_status, unknown) = ask_for_link(&browser, &server, "nobody@example.com").await;
    assert_eq!((known_status, unknown_status), (200, 200));
    assert_eq!(
        known.replace("ALICE@example.com", "X"),
        unknown.replace("nobody@example.com", "X"),
        "the same answer whether or not an account uses the address"
    );
    let delivered = smtp.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        1,
        "nothing is sent to an address of no account"
    );
    assert!(delivered[0].contains("To: alice@example.com"));
    assert!(delivered[0].contains("Subject: Reset your Portcullis password"));
    let link = link_in(&delivered[0]);
    assert!(
        link.starts_with(&format!("{}/reset?token=", server.base_url)),
        "{link}"
    );

    let (status, weak) = choose(&browser, &link, "password1234").await;
    assert_eq!(status, 400);
    assert!(weak.contains("too easy to guess"), "{weak}");
    let (status, done) = choose(&browser, &link, NEW_PASSWORD).await;
    assert_eq!(
        status, 200,
        "a refused password left the link working: {done}"
    );
    assert!(done.contains("Your password was changed"));
    let (status, reused) = choose(&browser, &link, "yet another fine passphrase").await;
    assert_eq!(status, 400);
    assert!(reused.contains("expired, was already used"), "{reused}");

    let refreshed = refresh(&server, &refresh_token).await;
    assert_eq!(
        refreshed.status(),
        400,
        "every token family of the account ended"
    );
    let callback = super::browser::fresh_sign_in(&server, "alice", NEW_PASSWORD).await;
    assert!(
        callback.contains("code="),
        "signs in with the new password: {callback}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_link_supersedes_the_older_and_links_expire() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let clock = ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        mailer: Some(mailer(&smtp)),
        clock: clock.clone(),
        ..TestOptions::default()
    })
    .await;
    server.add_user("bob", &["user"], PASSWORD).await;
    let browser = Browser::new();
    ask_for_link(&browser, &server, "bob@example.com").await;
    let first = link_in(&smtp.wait_for(1, Duration::from_secs(20)).await[0]);
    ask_for_link(&browser, &server, "bob@example.com").await;
    let second = link_in(&smtp.wait_for(2, Duration::from_secs(20)).await[1]);
    assert_ne!(first, second);
    let (status, _) = choose(&browser, &first, NEW_PASSWORD).await;
    assert_eq!(status, 400, "superseded by the newer link");
    clock.advance(16 * 60);
    let (status, expired) = choose(&browser, &second, NEW_PASSWORD).await;
    assert_eq!(status, 400, "15 minutes at most: {expired}");
    server.stop().await;
}

#[tokio::test]
async fn without_email_the_pages_say_the_feature_is_off() {
    let server = TestAuthServer::start().await;
    let browser = Browser::new();
    let forgot = browser.get(&server.url("/forgot")).await;
    assert_eq!(forgot.status(), 404);
    assert!(
        forgot
            .text()
            .await
            .expect("html")
            .contains("not available here")
    );
    let sign_in = browser
        .get(&server.url("/signin"))
        .await
        .text()
        .await
        .expect("html");
    assert!(
        !sign_in.contains("/forgot"),
        "no link to a feature that is off"
    );
    server.stop().await;
}
