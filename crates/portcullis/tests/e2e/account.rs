//! The account page over real HTTP: only for a signed-in user; lists their sessions and the
//! applications they allowed; ends another session, withdraws an application's access (its
//! refresh token dies), and changes the password (current one required, the policy applied,
//! everything signed out), each form CSRF-checked.

use super::browser::{
    Browser, PASSWORD, app_client, authorize_url, pkce_pair, refresh, sign_in_for_tokens,
};
use portcullis_testkit::TestAuthServer;
use portcullis_testkit::browser::{hidden_fields, location};

const NEW_PASSWORD: &str = "velvet otter juggles quinces";

async fn account_page(browser: &Browser, server: &TestAuthServer) -> (u16, String) {
    let response = browser.get(&server.url("/account")).await;
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

/// The hidden fields of the form in the list item of `html` that contains `marker` and posts
/// to `action`.
fn form_in_item(
    html: &str,
    marker: &str,
    action: &str,
    exclude: Option<&str>,
) -> Vec<(String, String)> {
    let item = html
        .split("<li>")
        .map(|item| item.split("</li>").next().unwrap_or_default())
        .find(|item| {
            item.contains(marker)
                && item.contains(action)
                && exclude.is_none_or(|excluded| !item.contains(excluded))
        })
        .unwrap_or_else(|| panic!("no item with {marker}: {html}"));
    hidden_fields(item)
}

fn password_form(html: &str, current: &str, new: &str) -> Vec<(String, String)> {
    let start = html
        .find("action=\"/account/password\"")
        .expect("password form");
    let mut fields = hidden_fields(&html[start..]);
    fields.push(("current_password".into(), current.into()));
    fields.push(("new_password".into(), new.into()));
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_manages_their_sessions_applications_and_password() {
    let server = TestAuthServer::start().await;
    server.add_client(app_client()).await;
    server.add_user("alice", &["user"], PASSWORD).await;

    let stranger = Browser::new();
    let anonymous = stranger.get(&server.url("/account")).await;
    assert_eq!(anonymous.status(), 303);
    assert_eq!(
        location(&anonymous, &server.base_url),
        server.url("/signin?return_to=%2Faccount"),
        "sign in, then come back"
    );

    let browser = Browser::new();
    let tokens = sign_in_for_tokens(&browser, &server, "openid offline_access", "alice").await;
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let other = Browser::new();
    let (_, challenge) = pkce_pair();
    other
        .authorize(
            &server.base_url,
            &authorize_url(&server, "openid", &challenge, &[]),
            ("alice", PASSWORD),
            super::browser::CALLBACK,
        )
        .await;

    let (status, html) = account_page(&browser, &server).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Signed in as <strong>alice</strong>"),
        "{html}"
    );
    assert_eq!(
        html.matches("action=\"/account/sessions/end\"").count(),
        2,
        "{html}"
    );
    assert!(html.contains("(this browser)") && html.contains("<strong>app</strong>"));

    // End the other browser's session.
    let fields = form_in_item(
        &html,
        "Signed in",
        "/account/sessions/end",
        Some("(this browser)"),
    );
    let ended = browser
        .post(&server.url("/account/sessions/end"), &fields)
        .await;
    assert_eq!(ended.status(), 303);
    assert_eq!(
        account_page(&other, &server).await.0,
        303,
        "signed out there"
    );
    assert_eq!(
        account_page(&browser, &server).await.0,
        200,
        "still signed in here"
    );

    // Another user's session cannot be ended from here.
    let bob = server.add_user("bob", &["user"], PASSWORD).await;
    let bobs_browser = Browser::new();
    let (_, challenge) = pkce_pair();
    bobs_browser
        .authorize(
            &server.base_url,
            &authorize_url(&server, "openid", &challenge, &[]),
            ("bob", PASSWORD),
            super::browser::CALLBACK,
        )
        .await;
    let bobs_sid = server
        .state
        .store
        .list_sessions_of_user(&bob.id)
        .await
        .expect("sessions")[0]
        .sid
        .clone();
    let (_, html) = account_page(&browser, &server).await;
    let mut fields = form_in_item(&html, "Signed in", "/account/sessions/end", None);
    fields.retain(|(name, _)| name != "sid");
    fields.push(("sid".into(), bobs_sid));
    browser
        .post(&server.url("/account/sessions/end"), &fields)
        .await;
    assert_eq!(
        account_page(&bobs_browser, &server).await.0,
        200,
        "bob is still signed in"
    );

    // A form without the CSRF token is refused.
    let forged = browser
        .post(
            &server.url("/account/applications/revoke"),
            &[("client_id".into(), "app".into())],
        )
        .await;
    assert_eq!(forged.status(), 403);

    // Withdraw the app's access: its refresh token dies.
    let (_, html) = account_page(&browser, &server).await;
    let fields = form_in_item(
        &html,
        "<strong>app</strong>",
        "/account/applications/revoke",
        None,
    );
    let revoked = browser
        .post(&server.url("/account/applications/revoke"), &fields)
        .await;
    assert_eq!(revoked.status(), 303);
    let (_, html) = account_page(&browser, &server).await;
    assert!(
        html.contains("You have not allowed any application."),
        "{html}"
    );
    assert_eq!(refresh(&server, &refresh_token).await.status(), 400);

    // Change the password: the current one is required, the policy applies.
    let wrong = browser
        .post(
            &server.url("/account/password"),
            &password_form(&html, "not my password", NEW_PASSWORD),
        )
        .await;
    assert_eq!(wrong.status(), 400);
    assert!(
        wrong
            .text()
            .await
            .expect("html")
            .contains("current password is not right")
    );
    let (_, html) = account_page(&browser, &server).await;
    let weak = browser
        .post(
            &server.url("/account/password"),
            &password_form(&html, PASSWORD, "password1234"),
        )
        .await;
    assert_eq!(weak.status(), 400);
    assert!(
        weak.text()
            .await
            .expect("html")
            .contains("too easy to guess")
    );
    let (_, html) = account_page(&browser, &server).await;
    let changed = browser
        .post(
            &server.url("/account/password"),
            &password_form(&html, PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(
        account_page(&browser, &server).await.0,
        303,
        "every session ended"
    );
    let callback = super::browser::fresh_sign_in(&server, "alice", NEW_PASSWORD).await;
    assert!(callback.contains("code="), "the new password signs in");

    server.stop().await;
}
