//! The admin console through a cookie-jar browser: sign-in through Portcullis's own sign-in as
//! the built-in client, then users, clients, sessions, keys and the audit log; CSRF-checked
//! forms, confirmed dangerous actions, read-only auditors, and everyone else refused.

use super::browser::PASSWORD;
use portcullis_testkit::TestAuthServer;
use portcullis_testkit::browser::{Browser, hidden_fields, location};

/// Signs `user` in to the console of `server`; returns the page the sign-in ends on.
async fn sign_in(browser: &Browser, server: &TestAuthServer, user: &str) -> reqwest::Response {
    let start = browser
        .get(&format!("{}/console/users", server.admin_url))
        .await;
    assert_eq!(start.status(), 303, "not signed in: to the console's login");
    let login = location(&start, &server.admin_url);
    let to_authorize = browser.get(&login).await;
    let authorize = location(&to_authorize, &server.admin_url);
    assert!(
        authorize.starts_with(&format!("{}/authorize?", server.base_url)),
        "{authorize}"
    );
    let callback = browser
        .authorize(
            &server.base_url,
            &authorize,
            (user, PASSWORD),
            &format!("{}/console/callback", server.admin_url),
        )
        .await;
    browser.get(&callback).await
}

/// The form fields of the first form posting to `action` on `html`.
fn form_fields(html: &str, action: &str) -> Vec<(String, String)> {
    let start = html
        .find(&format!("method=\"post\" action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posting to {action}: {html}"));
    let end = html[start..]
        .find("</form>")
        .map_or(html.len(), |end| start + end);
    hidden_fields(&html[start..end])
}

async fn text(response: reqwest::Response) -> String {
    response.text().await.expect("html")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_users_clients_sessions_and_reads_the_audit_log() {
    let server = TestAuthServer::start().await;
    server.add_user("root", &["admin"], PASSWORD).await;
    server.add_user("bob", &["user"], PASSWORD).await;
    let browser = Browser::new();
    let admin = &server.admin_url;
    let signed_in = sign_in(&browser, &server, "root").await;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let users = browser.get(&format!("{admin}/console/users")).await;
    assert_eq!(users.status(), 200);
    let csp = users.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    let html = text(users).await;
    assert!(
        html.contains(">bob</a>") && html.contains(">root</a>"),
        "{html}"
    );

    // Create a user; a form without the session's CSRF token is refused.
    let mut fields = form_fields(&html, "/console/users");
    let forged = browser
        .post(
            &format!("{admin}/console/users"),
            &[
                ("username".into(), "mallory".into()),
                ("password".into(), "x".repeat(20)),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);
    fields.extend([
        ("username".to_owned(), "carol".to_owned()),
        ("email".to_owned(), "carol@example.com".to_owned()),
        ("roles".to_owned(), "user, auditor".to_owned()),
        (
            "password".to_owned(),
            "correct horse battery staple".to_owned(),
        ),
    ]);
    let created = browser
        .post(&format!("{admin}/console/users"), &fields)
        .await;
    assert_eq!(
        location(&created, admin),
        format!("{admin}/console/users/carol")
    );
    let carol = text(browser.get(&format!("{admin}/console/users/carol")).await).await;
    assert!(carol.contains("auditor, user"), "{carol}");
    let mut edit = form_fields(&carol, "/console/users/carol/edit");
    edit.extend([
        ("roles".to_owned(), "user".to_owned()),
        ("email".to_owned(), String::new()),
    ]);
    let edited = browser
        .post(&format!("{admin}/console/users/carol/edit"), &edit)
        .await;
    assert_eq!(edited.status(), 303);
    let carol = text(browser.get(&format!("{admin}/console/users/carol")).await).await;
    assert!(
        carol.contains("<th>Roles</th><td>user</td>") && carol.contains("<th>Email</th><td></td>"),
        "{carol}"
    );
    let searched = text(
        browser
            .get(&format!("{admin}/console/users?search=CA"))
            .await,
    )
    .await;
    assert!(
        searched.contains(">carol</a>") && !searched.contains(">bob</a>"),
        "{searched}"
    );

    // Register a confidential client: the secret is shown once; rotating asks first.
    let clients = text(browser.get(&format!("{admin}/console/clients")).await).await;
    let mut fields = form_fields(&clients, "/console/clients");
    fields.extend([
        ("id".to_owned(), "billing".to_owned()),
        ("kind".to_owned(), "confidential".to_owned()),
        ("grants".to_owned(), "client_credentials".to_owned()),
        ("scopes".to_owned(), "read".to_owned()),
    ]);
    let registered = text(
        browser
            .post(&format!("{admin}/console/clients"), &fields)
            .await,
    )
    .await;
    assert!(registered.contains("shown this once"), "{registered}");
    let detail = text(
        browser
            .get(&format!("{admin}/console/clients/billing"))
            .await,
    )
    .await;
    let rotate = form_fields(&detail, "/console/clients/billing/secret");
    let question = text(
        browser
            .post(&format!("{admin}/console/clients/billing/secret"), &rotate)
            .await,
    )
    .await;
    assert!(question.contains("Are you sure?"), "{question}");
    let confirmed = form_fields(&question, "/console/clients/billing/secret");
    assert!(confirmed.contains(&("confirm".to_owned(), "yes".to_owned())));
    let rotated = text(
        browser
            .post(
                &format!("{admin}/console/clients/billing/secret"),
                &confirmed,
            )
            .await,
    )
    .await;
    assert!(
        rotated.contains("Secret rotated") && rotated.contains("class=\"secret\""),
        "{rotated}"
    );

    let detail = text(
        browser
            .get(&format!("{admin}/console/clients/billing"))
            .await,
    )
    .await;
    let mut edit = form_fields(&detail, "/console/clients/billing/edit");
    edit.extend([
        ("grants".to_owned(), "client_credentials".to_owned()),
        ("scopes".to_owned(), "read write".to_owned()),
        ("redirect_uris".to_owned(), String::new()),
        ("audiences".to_owned(), String::new()),
        ("require_mfa".to_owned(), "yes".to_owned()),
        (
            "require_pushed_authorization_requests".to_owned(),
            "yes".to_owned(),
        ),
    ]);
    let saved = browser
        .post(&format!("{admin}/console/clients/billing/edit"), &edit)
        .await;
    assert_eq!(saved.status(), 303);
    let detail = text(
        browser
            .get(&format!("{admin}/console/clients/billing"))
            .await,
    )
    .await;
    assert!(
        detail.contains("<th>Scopes</th><td>read write</td>"),
        "{detail}"
    );
    assert!(
        detail.contains("<th>Second factor</th><td>required of every user</td>")
            && detail.contains("name=\"require_mfa\" value=\"yes\" checked"),
        "{detail}"
    );
    assert!(
        detail.contains("<th>Pushed requests</th><td>required</td>"),
        "{detail}"
    );

    // Bob signs in to the auth server (a session), and the admin revokes it.
    let bob_browser = Browser::new();
    let bob_page = bob_browser
        .get(&format!("{}/signin", server.base_url))
        .await;
    let mut bob_fields = hidden_fields(&text(bob_page).await);
    bob_fields.extend([
        ("username".to_owned(), "bob".to_owned()),
        ("password".to_owned(), PASSWORD.to_owned()),
    ]);
    let bob_signed_in = bob_browser
        .post(&format!("{}/signin", server.base_url), &bob_fields)
        .await;
    assert!(bob_signed_in.status().is_success() || bob_signed_in.status() == 303);
    let sessions = text(browser.get(&format!("{admin}/console/sessions")).await).await;
    assert!(sessions.contains("<td>bob</td>"), "{sessions}");
    let bob_row = sessions
        .split("<tr>")
        .find(|row| row.contains("<td>bob</td>"))
        .expect("bob's row");
    let revoke_action = bob_row
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a revoke form")
        .to_owned();
    let ask = text(
        browser
            .post(
                &format!("{admin}{revoke_action}"),
                &form_fields(&sessions, &revoke_action),
            )
            .await,
    )
    .await;
    let done = browser
        .post(
            &format!("{admin}{revoke_action}"),
            &form_fields(&ask, &revoke_action),
        )
        .await;
    assert_eq!(done.status(), 303);
    let after = text(browser.get(&format!("{admin}/console/sessions")).await).await;
    assert!(!after.contains("<td>bob</td>"), "{after}");

    // The audit log names the console user as the actor of each change.
    let audit = text(
        browser
            .get(&format!("{admin}/console/audit?kind=admin_action"))
            .await,
    )
    .await;
    for action in [
        "user.create",
        "client.create",
        "client.rotate_secret",
        "session.revoke",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
    assert!(audit.contains("@portcullis-console"), "{audit}");
    let keys = browser.get(&format!("{admin}/console/keys")).await;
    assert!(text(keys).await.contains("active"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_only_read_and_other_users_are_refused() {
    let server = TestAuthServer::start().await;
    server.add_user("audrey", &["auditor"], PASSWORD).await;
    server.add_user("plain", &["user"], PASSWORD).await;
    let auditor = Browser::new();
    sign_in(&auditor, &server, "audrey").await;
    let users = text(
        auditor
            .get(&format!("{}/console/users", server.admin_url))
            .await,
    )
    .await;
    assert!(
        users.contains("(read only)") && !users.contains("Create user"),
        "{users}"
    );
    let forged = auditor
        .post(
            &format!("{}/console/users/plain/disable", server.admin_url),
            &[],
        )
        .await;
    assert_eq!(forged.status(), 403);
    // Disabling the auditor ends their console session at the next request.
    assert!(
        server
            .state
            .store
            .set_disabled_at("audrey", Some(server.now()))
            .await
            .expect("disable")
    );
    let after = auditor
        .get(&format!("{}/console/users", server.admin_url))
        .await;
    assert_eq!(after.status(), 303, "back to sign-in");
    // A callback without a pending sign-in (a forged or replayed state) opens nothing.
    let forged = Browser::new()
        .get(&format!(
            "{}/console/callback?code=anything&state=forged",
            server.admin_url
        ))
        .await;
    assert_eq!(forged.status(), 400);
    assert!(forged.headers().get("set-cookie").is_none());
    let refused = sign_in(&Browser::new(), &server, "plain").await;
    assert_eq!(refused.status(), 403);
    assert!(
        text(refused)
            .await
            .contains("Only administrators and auditors")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_session_lists_are_searched_and_paged() {
    use portcullis_core::Session;

    let server = TestAuthServer::start().await;
    server.add_user("root", &["admin"], PASSWORD).await;
    let bob = server.add_user("bob", &["user"], PASSWORD).await;
    for index in 0..30 {
        server
            .add_client(super::support::automation(
                &format!("svc-{index:02}"),
                "read",
                "https://api.example",
            ))
            .await;
        server
            .state
            .store
            .create_session(&Session {
                secret_hash: vec![index; 32],
                sid: format!("bob-session-{index:02}"),
                user_id: bob.id.clone(),
                auth_time: server.now(),
                amr: portcullis_core::AuthMethods::password(),
                identity_provider: None,
                created_at: server.now() - i64::from(index),
                last_seen_at: server.now(),
                expires_at: server.now() + 3600,
            })
            .await
            .expect("session");
    }
    let browser = Browser::new();
    sign_in(&browser, &server, "root").await;
    let admin = &server.admin_url;

    let first = text(browser.get(&format!("{admin}/console/clients")).await).await;
    assert!(
        first.contains(">svc-00</a>") && first.contains("Next page"),
        "{first}"
    );
    assert!(!first.contains(">svc-29</a>"), "25 to a page");
    let next = first
        .split("<a href=\"/console/clients?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("next link")
        .replace("&amp;", "&");
    let second = text(
        browser
            .get(&format!("{admin}/console/clients?{next}"))
            .await,
    )
    .await;
    assert!(
        second.contains(">svc-29</a>") && !second.contains(">svc-00</a>"),
        "{second}"
    );
    let searched = text(
        browser
            .get(&format!("{admin}/console/clients?search=svc-1"))
            .await,
    )
    .await;
    let shown = searched.matches("\">svc-1").count();
    assert_eq!(shown, 10, "svc-10 to svc-19: {searched}");
    assert!(!searched.contains("Next page"));

    let sessions = text(
        browser
            .get(&format!("{admin}/console/sessions?search=bob"))
            .await,
    )
    .await;
    assert!(
        sessions.contains("bob-session-00") && !sessions.contains("bob-session-29"),
        "newest first, 25 to a page: {sessions}"
    );
    assert!(!sessions.contains("<td>root</td>"), "only bob's sessions");
    let next = sessions
        .split("<a href=\"/console/sessions?")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("next link")
        .replace("&amp;", "&");
    let older = text(
        browser
            .get(&format!("{admin}/console/sessions?{next}"))
            .await,
    )
    .await;
    assert!(
        older.contains("bob-session-29") && !older.contains("bob-session-24"),
        "{older}"
    );
    let unknown = browser
        .get(&format!("{admin}/console/sessions?search=nobody"))
        .await;
    assert_eq!(unknown.status(), 404, "an unknown user is a clear refusal");
    server.stop().await;
}
