//! Self-service registration end to end, with a real SMTP server on loopback (aiosmtpd) whose
//! delivered messages the tests read: register from the sign-in page of an authorization
//! request, verify the address by the emailed link, sign in and land back at the app with
//! `email_verified` true; sign-in waits for verification under the policy; the answer is the same
//! for an address that has an account (its owner gets a message instead); invitation-only and
//! domain allow-list; a changed address is verified before use and the old one told.

use super::admin_api::{call, token_of};
use super::browser::{APP, Browser, CALLBACK, app_client, authorize_url, exchange, query_param};
use super::code_flow::verify_id_token;
use super::email::{decode_quoted_printable, link_in, mailer};
use super::support::{admin, http, jwks, stdout};
use portcullis_core::{RegistrationMode, RegistrationPolicy};
use portcullis_service::AuditQuery;
use portcullis_testkit::browser::{hidden_fields, location, pkce_pair};
use portcullis_testkit::smtp::TestSmtp;
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::{Value, json};
use std::time::Duration;

const STRONG: &str = "velvet otter juggles quinces";

async fn start(smtp: &TestSmtp, registration: RegistrationPolicy) -> TestAuthServer {
    let server = TestAuthServer::start_with(TestOptions {
        mailer: Some(mailer(smtp)),
        registration,
        direct_login_client: Some(APP.into()),
        ..TestOptions::default()
    })
    .await;
    server.add_client(app_client()).await;
    server
}

fn open() -> RegistrationPolicy {
    RegistrationPolicy {
        mode: RegistrationMode::Open,
        ..RegistrationPolicy::default()
    }
}

/// Fills and posts the registration form found at `form_url`; returns the status and page.
async fn register(
    browser: &Browser,
    server: &TestAuthServer,
    form_url: &str,
    (username, email, password): (&str, &str, &str),
) -> (u16, String) {
    let form = browser.get(form_url).await;
    assert_eq!(form.status(), 200, "the form at {form_url}");
    let mut fields: Vec<(String, String)> = hidden_fields(&form.text().await.expect("html"))
        .into_iter()
        .filter(|(name, _)| !["username", "email"].contains(&name.as_str()))
        .collect();
    fields.push(("username".into(), username.into()));
    fields.push(("email".into(), email.into()));
    fields.push(("password".into(), password.into()));
    let answer = browser.post(&server.url("/register"), &fields).await;
    let status = answer.status().as_u16();
    (status, answer.text().await.expect("html"))
}

/// Posts the form at `form_url` and expects a 400 whose page says `says`.
async fn refused(
    browser: &Browser,
    server: &TestAuthServer,
    form_url: &str,
    fields: (&str, &str, &str),
    says: &str,
) {
    let (status, page) = register(browser, server, form_url, fields).await;
    assert_eq!(status, 400, "{fields:?}: {page}");
    assert!(page.contains(says), "{fields:?}: {page}");
}

/// Posts the form at `form_url` and expects the "check your email" page.
async fn accepted(
    browser: &Browser,
    server: &TestAuthServer,
    form_url: &str,
    fields: (&str, &str, &str),
) {
    let (status, page) = register(browser, server, form_url, fields).await;
    assert_eq!(status, 200, "{fields:?}: {page}");
    assert!(page.contains("We sent a message to"), "{fields:?}: {page}");
}

/// The delivered message to `to` whose subject contains `subject`, as delivered.
async fn message_to(smtp: &TestSmtp, count: usize, to: &str, subject: &str) -> String {
    smtp.wait_for(count, Duration::from_secs(20))
        .await
        .into_iter()
        .find(|raw| raw.contains(&format!("To: {to}")) && raw.contains(subject))
        .unwrap_or_else(|| panic!("no message to {to} about {subject}"))
}

async fn audit_kinds(server: &TestAuthServer) -> Vec<String> {
    let query = AuditQuery {
        limit: 200,
        ..AuditQuery::default()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server
        .state
        .store
        .search_audit(&query)
        .await
        .expect("audit")
        .into_iter()
        .map(|record| {
            assert!(
                !record.detail.contains(STRONG),
                "no password in the audit log"
            );
            record.kind
        })
        .collect()
}

/// Opens a confirmation link (a form: the GET changes nothing) and posts `password` with it;
/// the status and, for a redirect, where it goes, else the page.
async fn confirm(
    browser: &Browser,
    server: &TestAuthServer,
    link: &str,
    password: &str,
) -> (u16, String) {
    let (status, form) = browser.page(link).await;
    if status != 200 {
        return (status, form);
    }
    let mut fields = hidden_fields(&form)
        .into_iter()
        .filter(|(name, _)| name != "username")
        .collect::<Vec<_>>();
    fields.push(("password".into(), password.into()));
    let answer = browser.post(&server.url("/verify-email"), &fields).await;
    let status = answer.status().as_u16();
    if status == 303 {
        return (status, location(&answer, &server.base_url));
    }
    (status, answer.text().await.expect("html"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_registers_confirms_the_address_and_returns_to_the_app() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = start(&smtp, open()).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce_pair();
    let to_sign_in = browser
        .get(&authorize_url(&server, "openid email", &challenge, &[]))
        .await;
    let sign_in_url = location(&to_sign_in, &server.base_url);
    let sign_in = browser.page(&sign_in_url).await.1;
    let register_href = sign_in
        .split("href=\"")
        .find(|rest| rest.starts_with("/register"))
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in page links to /register")
        .replace("&amp;", "&");
    assert!(
        register_href.contains("return_to=%2Fauthorize%3F"),
        "{register_href}"
    );

    let (status, answer) = register(
        &browser,
        &server,
        &server.url(&register_href),
        ("nora", "Nora@Example.com", STRONG),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains("We sent a message to Nora@Example.com"),
        "{answer}"
    );
    let message = message_to(
        &smtp,
        1,
        "Nora@Example.com",
        "Confirm your Portcullis account",
    )
    .await;
    assert!(
        decode_quoted_printable(&message).contains("<a href=\""),
        "an HTML part too"
    );
    let link = link_in(&message);
    let store = &server.state.store;
    let no_account = fresh_sign_in(&server, &sign_in_url, "nora", STRONG).await;
    assert_eq!(
        no_account.0, 401,
        "no account before the address is confirmed"
    );

    // Opening the link (as a mail scanner would) changes nothing; a wrong password neither.
    let (status, form) = browser.page(&link).await;
    assert_eq!(status, 200);
    assert!(
        form.contains("nora") && form.contains("Nora@Example.com"),
        "{form}"
    );
    let (status, wrong) = confirm(&browser, &server, &link, "not the chosen password").await;
    assert_eq!(status, 401, "{wrong}");
    assert!(
        store
            .find_user_by_username("nora")
            .await
            .expect("find")
            .is_none()
    );

    let (status, next) = confirm(&browser, &server, &link, STRONG).await;
    assert_eq!(status, 303, "{next}");
    assert!(
        next.starts_with(&server.url("/authorize?")),
        "back to the app's request: {next}"
    );
    assert_eq!(
        confirm(&browser, &server, &link, STRONG).await.0,
        400,
        "single use"
    );
    let callback = browser
        .authorize(&server.base_url, &next, ("nora", STRONG), CALLBACK)
        .await;
    let code = query_param(&callback, "code").expect("code");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-1"));
    let tokens: Value = exchange(&server, &code, &verifier)
        .await
        .json()
        .await
        .expect("tokens");
    let id = verify_id_token(
        tokens["id_token"].as_str().expect("id token"),
        &jwks(&server.base_url).await,
        &server.base_url,
    );
    assert_eq!(id["email"], "Nora@Example.com");
    assert_eq!(id["email_verified"], true, "OpenID Connect Core §5.1");
    let userinfo: Value = http()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("access token"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("json");
    assert_eq!(userinfo["email_verified"], true);

    let kinds = audit_kinds(&server).await;
    for kind in [
        "registration_requested",
        "user_registered",
        "email_verified",
    ] {
        assert!(
            kinds.iter().any(|found| found == kind),
            "{kind} in {kinds:?}"
        );
    }
}

/// Signs `username` in on a fresh browser's sign-in page at `url`; the status and page.
async fn fresh_sign_in(
    server: &TestAuthServer,
    url: &str,
    username: &str,
    password: &str,
) -> (u16, String) {
    let browser = Browser::new();
    let form = browser.page(url).await.1;
    let mut fields = hidden_fields(&form);
    fields.push(("username".into(), username.into()));
    fields.push(("password".into(), password.into()));
    let answer = browser.post(&server.url("/signin"), &fields).await;
    let status = answer.status().as_u16();
    (status, answer.text().await.expect("html"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_waits_for_a_verified_address_under_the_policy() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = start(
        &smtp,
        RegistrationPolicy {
            require_verified_email: true,
            ..RegistrationPolicy::default()
        },
    )
    .await;
    server.add_user("olga", &["user"], STRONG).await;
    let browser = Browser::new();
    let (verifier, challenge) = pkce_pair();
    let to_sign_in = browser
        .get(&authorize_url(&server, "openid email", &challenge, &[]))
        .await;
    let sign_in_url = location(&to_sign_in, &server.base_url);
    let wrong = fresh_sign_in(&server, &sign_in_url, "olga", "a wrong password").await;
    assert_eq!(
        wrong.0, 401,
        "a wrong password learns nothing of the policy"
    );
    let held = fresh_sign_in(&server, &sign_in_url, "olga", STRONG).await;
    assert_eq!(held.0, 403);
    assert!(
        held.1.contains("Confirm your email address first"),
        "{}",
        held.1
    );
    let login = http()
        .post(server.url("/login"))
        .json(&json!({"username": "olga", "password": STRONG}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 403);
    assert_eq!(
        login.json::<Value>().await.expect("json")["error"],
        "email_not_verified"
    );

    let link =
        link_in(&message_to(&smtp, 1, "olga@example.com", "Verify your email address").await);
    let (status, next) = confirm(&browser, &server, &link, STRONG).await;
    assert_eq!(status, 303, "{next}");
    assert!(next.starts_with(&server.url("/authorize?")), "{next}");
    let callback = browser
        .authorize(&server.base_url, &next, ("olga", STRONG), CALLBACK)
        .await;
    let code = query_param(&callback, "code").expect("code");
    let tokens: Value = exchange(&server, &code, &verifier)
        .await
        .json()
        .await
        .expect("tokens");
    let id = verify_id_token(
        tokens["id_token"].as_str().expect("id token"),
        &jwks(&server.base_url).await,
        &server.base_url,
    );
    assert_eq!(id["email_verified"], true);
    let again = fresh_sign_in(&server, &server.url("/signin"), "olga", STRONG).await;
    assert_eq!(again.0, 200, "verified: sign-in completes");

    // An address that stops being verified (an administrator withdrew it) stops the session
    // from counting: the next authorization request asks to sign in again.
    let store = &server.state.store;
    assert!(
        store
            .set_email("olga", Some("olga@example.com"), None)
            .await
            .expect("withdraw")
    );
    let (_, challenge) = pkce_pair();
    let with_session = browser
        .get(&authorize_url(&server, "openid", &challenge, &[]))
        .await;
    assert!(
        location(&with_session, &server.base_url).starts_with(&server.url("/signin?")),
        "the session no longer counts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_with_an_account_gets_the_same_answer_and_its_owner_a_message() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = start(&smtp, open()).await;
    server.add_user("alice", &["user"], STRONG).await;
    let browser = Browser::new();
    let form = server.url("/register");

    let (taken_status, taken) = register(
        &browser,
        &server,
        &form,
        ("alice2", "ALICE@example.com", STRONG),
    )
    .await;
    let (fresh_status, fresh) = register(
        &browser,
        &server,
        &form,
        ("carol", "carol@example.com", STRONG),
    )
    .await;
    assert_eq!((taken_status, fresh_status), (200, 200));
    assert_eq!(
        taken.replace("ALICE@example.com", "X"),
        fresh.replace("carol@example.com", "X"),
        "the page never tells whether an address has an account"
    );
    let notice = message_to(
        &smtp,
        2,
        "ALICE@example.com",
        "Someone tried to use your address",
    )
    .await;
    assert!(
        decode_quoted_printable(&notice).contains("/forgot"),
        "the owner learns how to get in"
    );
    message_to(
        &smtp,
        2,
        "carol@example.com",
        "Confirm your Portcullis account",
    )
    .await;
    let store = &server.state.store;
    for name in ["alice2", "carol"] {
        assert!(
            store
                .find_user_by_username(name)
                .await
                .expect("find")
                .is_none(),
            "{name}: no account before the address is confirmed"
        );
    }

    for (fields, says) in [
        (("ALICE", "new@example.com", STRONG), "username is taken"),
        (
            ("dave", "dave@example.com", "password1234"),
            "too easy to guess",
        ),
        (("dave", "not-an-address", STRONG), "invalid email address"),
        (
            ("dave", "\u{c9}ve@example.com", STRONG),
            "invalid email address",
        ),
        (
            ("dave dave", "dave@example.com", STRONG),
            "invalid username",
        ),
    ] {
        refused(&browser, &server, &form, fields, says).await;
    }
    assert!(
        store
            .find_user_by_username("dave")
            .await
            .expect("find")
            .is_none()
    );

    // A second attempt at the same username answers the same whether or not the first one's
    // address had an account, and neither name signs in before its address is confirmed.
    for name in ["alice2", "carol"] {
        refused(
            &browser,
            &server,
            &form,
            (name, "zoe@example.com", STRONG),
            "username is taken",
        )
        .await;
        let sign_in = fresh_sign_in(&server, &server.url("/signin"), name, STRONG).await;
        assert_eq!(sign_in.0, 401, "{name}");
    }

    // A form without its CSRF token is refused.
    let forged = browser
        .post(
            &server.url("/register"),
            &[
                ("username".to_owned(), "eve".to_owned()),
                ("email".to_owned(), "eve@example.com".to_owned()),
                ("password".to_owned(), STRONG.to_owned()),
            ],
        )
        .await;
    assert_eq!(forged.status(), 403);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        smtp.messages().len(),
        2,
        "refused registrations send nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_and_the_domain_allow_list_decide_who_registers() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = start(
        &smtp,
        RegistrationPolicy {
            mode: RegistrationMode::Invite,
            allowed_email_domains: vec!["example.com".into()],
            ..RegistrationPolicy::default()
        },
    )
    .await;
    let browser = Browser::new();
    let (status, uninvited) = browser.page(&server.url("/register")).await;
    assert_eq!(status, 403);
    assert!(uninvited.contains("by invitation only"));
    let sign_in = browser.page(&server.url("/signin")).await.1;
    assert!(
        sign_in.contains("href=\"/register\""),
        "invite mode still links to /register"
    );

    let token = token_of(&server, "ops", "portcullis:admin").await;
    let (status, created) = call(
        &server,
        reqwest::Method::POST,
        "/admin/v1/invitations",
        Some(&token),
        Some(json!({"email": "Gina@Example.com"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["email"], "gina@example.com");
    let link = created["link"].as_str().expect("link").to_owned();
    assert!(
        link.starts_with(&server.url("/register?invitation=")),
        "{link}"
    );
    let (status, invalid) = call(
        &server,
        reqwest::Method::POST,
        "/admin/v1/invitations",
        Some(&token),
        Some(json!({"email": "nope", "expires_in_secs": 3600})),
    )
    .await;
    assert_eq!((status, invalid["field"].as_str()), (400, Some("email")));

    let form = browser.page(&link).await.1;
    assert!(
        form.contains("value=\"gina@example.com\""),
        "the invited address is filled in"
    );
    refused(
        &browser,
        &server,
        &link,
        ("gina", "other@example.com", STRONG),
        "use the address this invitation was sent to",
    )
    .await;
    accepted(
        &browser,
        &server,
        &link,
        ("gina", "gina@example.com", STRONG),
    )
    .await;
    let reused = browser.get(&link).await;
    assert_eq!(reused.status(), 403, "an invitation works once");

    // An unbound invitation, made by the CLI on the data directory, for an outside domain.
    let output = admin(
        server.data_dir(),
        &["invite", "--expires-in-secs", "600"],
        "",
        &[],
    )
    .await;
    let printed = stdout(&output);
    let open_link = printed
        .split_whitespace()
        .find(|word| word.contains("/register?invitation="))
        .unwrap_or_else(|| panic!("a link in {printed}"));
    let invitation = open_link.split("invitation=").nth(1).expect("token");
    let local = server.url(&format!("/register?invitation={invitation}"));
    refused(
        &browser,
        &server,
        &local,
        ("hank", "hank@evil.test", STRONG),
        "addresses of this domain cannot register here",
    )
    .await;
    // The refusal left the invitation usable.
    accepted(
        &browser,
        &server,
        &local,
        ("hank", "hank@EXAMPLE.com", STRONG),
    )
    .await;
    smtp.wait_for(2, Duration::from_secs(20)).await;
    let kinds = audit_kinds(&server).await;
    assert!(
        kinds
            .iter()
            .filter(|kind| *kind == "registration_requested")
            .count()
            == 2,
        "{kinds:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_off_by_default_and_without_email() {
    let server = TestAuthServer::start_with(TestOptions {
        registration: open(),
        ..TestOptions::default()
    })
    .await;
    let browser = Browser::new();
    assert_eq!(
        browser.get(&server.url("/register")).await.status(),
        404,
        "no email, no registration"
    );
    let sign_in = browser.page(&server.url("/signin")).await.1;
    assert!(!sign_in.contains("/register"));
    let closed = TestAuthServer::start().await;
    assert_eq!(browser.get(&closed.url("/register")).await.status(), 404);
}

/// A browser signed in as `username` (through an authorization request of the app).
async fn signed_in_as(server: &TestAuthServer, username: &str) -> Browser {
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    browser
        .authorize(
            &server.base_url,
            &authorize_url(server, "openid", &challenge, &[]),
            (username, STRONG),
            CALLBACK,
        )
        .await;
    browser
}

/// Asks on the account page to change the address to `email`; the status and page.
async fn change_address(
    browser: &Browser,
    server: &TestAuthServer,
    email: &str,
    password: &str,
) -> (u16, String) {
    let page = browser.page(&server.url("/account")).await.1;
    let start = page
        .find("action=\"/account/email\"")
        .expect("the address form");
    let mut fields = hidden_fields(&page[start..]);
    fields.push(("email".into(), email.into()));
    fields.push(("current_password".into(), password.into()));
    let answer = browser.post(&server.url("/account/email"), &fields).await;
    let status = answer.status().as_u16();
    (status, answer.text().await.expect("html"))
}

/// Signs out everywhere from the account page; the status.
async fn sign_out_everywhere(browser: &Browser, server: &TestAuthServer) -> u16 {
    let page = browser.page(&server.url("/account")).await.1;
    let start = page
        .find("action=\"/account/sessions/end-all\"")
        .expect("the form");
    let form = page[start..].split("</form>").next().expect("its end");
    let ended = browser
        .post(
            &server.url("/account/sessions/end-all"),
            &hidden_fields(form),
        )
        .await;
    ended.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_address_is_verified_before_use_and_the_old_one_is_told() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = start(&smtp, RegistrationPolicy::default()).await;
    server.add_user("bob", &["user"], STRONG).await;
    server.add_user("alice", &["user"], STRONG).await;
    let browser = signed_in_as(&server, "bob").await;
    let change = |email, password| change_address(&browser, &server, email, password);
    let (status, wrong) = change("bob@new.example", "not the password at all").await;
    assert_eq!(status, 400, "{wrong}");
    assert!(wrong.contains("current password is not right"), "{wrong}");
    let (status, asked) = change("bob@new.example", STRONG).await;
    assert_eq!(status, 200);
    assert!(
        asked.contains("We sent a link to bob@new.example"),
        "{asked}"
    );
    assert!(
        asked.contains("bob@example.com, not verified"),
        "the old address stays until then"
    );
    let (status, in_use) = change("ALICE@example.com", STRONG).await;
    assert_eq!(status, 200);
    assert_eq!(
        in_use.replace("ALICE@example.com", "X"),
        asked.replace("bob@new.example", "X"),
        "the page never tells that another account uses the address"
    );
    message_to(
        &smtp,
        2,
        "ALICE@example.com",
        "Someone tried to use your address",
    )
    .await;
    let link = link_in(&message_to(&smtp, 2, "bob@new.example", "Verify your email address").await);
    // Whoever reads bob@new.example cannot confirm it for bob without bob's password.
    let stranger = Browser::new();
    assert_eq!(
        confirm(&stranger, &server, &link, "guessing wildly here")
            .await
            .0,
        401
    );
    let bob = server
        .state
        .store
        .find_user_by_username("bob")
        .await
        .expect("find")
        .expect("bob");
    assert_eq!(
        bob.email.as_deref(),
        Some("bob@example.com"),
        "nothing changed yet"
    );
    let (status, next) = confirm(&browser, &server, &link, STRONG).await;
    assert_eq!(
        (status, next.as_str()),
        (303, server.url("/account").as_str())
    );
    let notice = message_to(&smtp, 3, "bob@example.com", "email address was changed").await;
    assert!(decode_quoted_printable(&notice).contains("bob@new.example"));
    let account = browser.page(&server.url("/account")).await.1;
    assert!(account.contains("bob@new.example, verified"), "{account}");
    let kinds = audit_kinds(&server).await;
    assert!(
        kinds.iter().any(|kind| kind == "email_changed"),
        "{kinds:?}"
    );

    // Signing out everywhere ends this session too.
    assert_eq!(sign_out_everywhere(&browser, &server).await, 200);
    let after = browser.get(&server.url("/account")).await;
    assert_eq!(after.status(), 303, "signed out: back to sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_everywhere_withdraws_an_address_change_asked_for_before() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = start(&smtp, RegistrationPolicy::default()).await;
    server.add_user("bob", &["user"], STRONG).await;
    let browser = signed_in_as(&server, "bob").await;
    let (status, _) = change_address(&browser, &server, "thief@evil.example", STRONG).await;
    assert_eq!(status, 200);
    let link =
        link_in(&message_to(&smtp, 1, "thief@evil.example", "Verify your email address").await);
    assert_eq!(sign_out_everywhere(&browser, &server).await, 200);
    assert_eq!(
        Browser::new().page(&link).await.0,
        400,
        "the change asked for before is withdrawn with everything else"
    );
}
