//! Second factors end to end over real sockets: an authenticator app set up on the account page
//! (QR code and typed secret), sign-in asking for its code, a replayed code refused, recovery
//! codes used once, setup forced by a client's `require_mfa` or the MFA policy, step-up through
//! `acr_values`, the direct login's `otp`, throttling, and an administrator's reset.

use super::admin_api::{call, token_of};
use super::browser::{
    APP, Browser, CALLBACK, PASSWORD, app_client, authorize_url, exchange, hidden_fields, location,
    pkce_pair, query_param,
};
use super::support::{audit_details, claims_of, discovery, http};
use portcullis_core::MfaPolicy;
use portcullis_core::totp::{TotpSecret, step_of};
use portcullis_testkit::{ManualClock, TestAuthServer, TestOptions};
use serde_json::{Value, json};
use std::sync::Arc;

const AAL1: &str = "urn:portcullis:acr:aal1";
const AAL2: &str = "urn:portcullis:acr:aal2";

async fn server_with_clock(mfa: MfaPolicy) -> (TestAuthServer, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        clock: clock.clone(),
        mfa,
        direct_login_client: Some(APP.into()),
        ..TestOptions::default()
    })
    .await;
    (server, clock)
}

/// The secret typed in by hand from a setup page.
fn shown_secret(html: &str) -> TotpSecret {
    let start = html.find("id=\"totp-secret\">").expect("secret shown") + 17;
    let end = start + html[start..].find('<').expect("end");
    let typed: String = html[start..end].split_whitespace().collect();
    let bytes = data_encoding::BASE32_NOPAD
        .decode(typed.as_bytes())
        .expect("base32");
    TotpSecret::from_bytes(bytes)
}

fn code_now(secret: &TotpSecret, server: &TestAuthServer) -> String {
    secret.code_at(step_of(server.now()))
}

/// The recovery codes of a page that shows them.
fn shown_recovery_codes(html: &str) -> Vec<String> {
    let list = &html[html.find("id=\"recovery-codes\"").expect("codes shown")..];
    let list = &list[..list.find("</ul>").expect("end")];
    list.split("<code>")
        .skip(1)
        .map(|item| item[..item.find('<').expect("code end")].to_owned())
        .collect()
}

/// Posts the form of `html` (its hidden fields plus `extra`) to `action`.
async fn submit(
    browser: &Browser,
    server: &TestAuthServer,
    html: &str,
    action: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields = hidden_fields(html);
    fields.extend(
        extra
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    browser.post(&server.url(action), &fields).await
}

/// Follows `response` through redirects and the consent page to the client's callback, or
/// returns the first other page (status and HTML).
async fn follow(
    browser: &Browser,
    server: &TestAuthServer,
    mut response: reqwest::Response,
) -> Result<String, (u16, String)> {
    for _ in 0..10 {
        if response.status() == 303 {
            let next = location(&response, &server.base_url);
            if next.starts_with(CALLBACK) {
                return Ok(next);
            }
            response = browser.get(&next).await;
            continue;
        }
        let status = response.status().as_u16();
        let html = response.text().await.expect("html");
        if html.contains("name=\"decision\"") {
            response = submit(
                browser,
                server,
                &html,
                "/authorize",
                &[("decision", "allow")],
            )
            .await;
            continue;
        }
        return Err((status, html));
    }
    panic!("too many redirects");
}

/// Starts an authorization request with `extra` parameters and signs in with the password:
/// the page that follows (or the callback).
async fn password_step(
    browser: &Browser,
    server: &TestAuthServer,
    username: &str,
    extra: &[(&str, &str)],
) -> (Result<String, (u16, String)>, String) {
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(server, "openid profile offline_access", &challenge, extra);
    let html = match follow(browser, server, browser.get(&url).await).await {
        Err((200, html)) if html.contains("action=\"/signin\"") => html,
        // A request the session already satisfies goes straight on.
        outcome => return (outcome, verifier),
    };
    let response = submit(
        browser,
        server,
        &html,
        "/signin",
        &[("username", username), ("password", PASSWORD)],
    )
    .await;
    (follow(browser, server, response).await, verifier)
}

/// Exchanges the callback's code: the token response.
async fn tokens(server: &TestAuthServer, callback: &str, verifier: &str) -> Value {
    let code = query_param(callback, "code").expect("code");
    let response = exchange(server, &code, verifier).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// Signs in at `/signin` for the account page with the password only.
async fn account_session(browser: &Browser, server: &TestAuthServer, username: &str) {
    let (_, html) = browser
        .page(&server.url("/signin?return_to=/account"))
        .await;
    let response = submit(
        browser,
        server,
        &html,
        "/signin",
        &[("username", username), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        location(&response, &server.base_url),
        server.url("/account")
    );
}

/// Sets up an app on the account page: its secret and the recovery codes.
async fn set_up_app(browser: &Browser, server: &TestAuthServer) -> (TotpSecret, Vec<String>) {
    let (status, html) = browser.page(&server.url("/account")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Two-step verification</h2><p>Off."), "{html}");
    let (status, setup) = browser.page(&server.url("/account/two-step/setup")).await;
    assert_eq!(status, 200);
    assert!(setup.contains("<svg"), "a QR code drawn inline: {setup}");
    let secret = shown_secret(&setup);
    let code = code_now(&secret, server);
    // The password is asked for: a borrowed session alone cannot add an app.
    let no_password = submit(
        browser,
        server,
        &setup,
        "/account/two-step/setup",
        &[("code", &code), ("current_password", "not the password")],
    )
    .await;
    assert_eq!(no_password.status(), 401);
    let again = no_password.text().await.expect("html");
    assert_eq!(
        shown_secret(&again),
        secret,
        "the same setup is shown again"
    );
    let wrong = submit(
        browser,
        server,
        &again,
        "/account/two-step/setup",
        &[("code", "000000"), ("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let again = wrong.text().await.expect("html");
    assert_eq!(shown_secret(&again), secret);
    let done = submit(
        browser,
        server,
        &again,
        "/account/two-step/setup",
        &[("code", &code), ("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(done.status(), 200);
    let codes = shown_recovery_codes(&done.text().await.expect("html"));
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_set_up_on_the_account_page_makes_sign_in_ask_for_its_code() {
    let (server, clock) = server_with_clock(MfaPolicy::default()).await;
    server.add_client(app_client()).await;
    let alice = server.add_user("alice", &["user"], PASSWORD).await;
    let setup_browser = Browser::new();
    account_session(&setup_browser, &server, "alice").await;
    let (secret, recovery_codes) = set_up_app(&setup_browser, &server).await;
    let used_at_setup = code_now(&secret, &server);
    let (_, account) = setup_browser.page(&server.url("/account")).await;
    assert!(account.contains("On: sign-in asks for a code"), "{account}");
    assert!(account.contains("10 unused recovery codes left"));

    // A new browser: the password alone no longer signs in.
    let browser = Browser::new();
    let (step, verifier) = password_step(&browser, &server, "alice", &[]).await;
    let (status, code_page) = step.expect_err("the code is asked for");
    assert_eq!(status, 200);
    assert!(code_page.contains("action=\"/signin/code\""), "{code_page}");
    assert!(
        browser.page(&server.url("/account")).await.0 == 303,
        "no session before the second factor"
    );
    // The code already used at setup is refused (RFC 6238 §5.2), and so is a wrong one.
    for refused in [used_at_setup.as_str(), "123456"] {
        let response = submit(
            &browser,
            &server,
            &code_page,
            "/signin/code",
            &[("code", refused)],
        )
        .await;
        assert_eq!(response.status(), 401, "{refused}");
    }
    clock.advance(30);
    let code = code_now(&secret, &server);
    let response = submit(
        &browser,
        &server,
        &code_page,
        "/signin/code",
        &[("code", &code)],
    )
    .await;
    let callback = follow(&browser, &server, response)
        .await
        .expect("signed in");
    let issued = tokens(&server, &callback, &verifier).await;
    let id = claims_of(issued["id_token"].as_str().expect("id token"));
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], AAL2);
    let access = claims_of(issued["access_token"].as_str().expect("access token"));
    assert_eq!(access["acr"], AAL2);
    assert_eq!(access["amr"], json!(["pwd", "otp", "mfa"]));
    assert!(access["auth_time"].is_i64());
    // A refreshed token keeps how the user signed in.
    let refreshed: Value =
        super::browser::refresh(&server, issued["refresh_token"].as_str().expect("refresh"))
            .await
            .json()
            .await
            .expect("json");
    assert_eq!(
        claims_of(refreshed["access_token"].as_str().expect("access"))["acr"],
        AAL2
    );

    // The same code in another browser within its step: refused (used once).
    let other = Browser::new();
    let (step, _) = password_step(&other, &server, "alice", &[]).await;
    let (_, other_page) = step.expect_err("code asked");
    let replay = submit(
        &other,
        &server,
        &other_page,
        "/signin/code",
        &[("code", &code)],
    )
    .await;
    assert_eq!(replay.status(), 401);
    // A recovery code works once, typed in capitals with a space, and is reported.
    let recovery = recovery_codes[0].to_uppercase().replace('-', " ");
    let response = submit(
        &other,
        &server,
        &other_page,
        "/signin/code",
        &[("code", &recovery)],
    )
    .await;
    let callback = follow(&other, &server, response)
        .await
        .expect("signed in by recovery code");
    assert!(callback.contains("code="));
    let third = Browser::new();
    let (step, _) = password_step(&third, &server, "alice", &[]).await;
    let (_, third_page) = step.expect_err("code asked");
    let reused = submit(
        &third,
        &server,
        &third_page,
        "/signin/code",
        &[("code", &recovery_codes[0])],
    )
    .await;
    assert_eq!(reused.status(), 401, "a recovery code is good once");
    let used = audit_details(&server, "recovery_code_used").await;
    assert!(
        used.iter()
            .any(|detail| detail.contains(&alice.id) && detail.contains("\"remaining\":9")),
        "{used:?}"
    );
    let (_, account) = setup_browser.page(&server.url("/account")).await;
    assert!(
        account.contains("9 unused recovery codes left"),
        "{account}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_the_second_step_and_are_audited() {
    let (server, _clock) = server_with_clock(MfaPolicy::default()).await;
    server.add_client(app_client()).await;
    server.add_user("bob", &[], PASSWORD).await;
    let setup_browser = Browser::new();
    account_session(&setup_browser, &server, "bob").await;
    let (secret, _) = set_up_app(&setup_browser, &server).await;
    let browser = Browser::new();
    let (step, _) = password_step(&browser, &server, "bob", &[]).await;
    let (_, page) = step.expect_err("code asked");
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = submit(
            &browser,
            &server,
            &page,
            "/signin/code",
            &[("code", "000000")],
        )
        .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Locked: even the right code waits.
    let right = code_now(&secret, &server);
    let response = submit(
        &browser,
        &server,
        &page,
        "/signin/code",
        &[("code", &right)],
    )
    .await;
    assert_eq!(response.status(), 429);
    let failures = audit_details(&server, "sign_in").await;
    assert!(
        failures
            .iter()
            .any(|detail| detail.contains("wrong second factor")),
        "{failures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_requiring_mfa_leads_a_user_without_one_through_setup() {
    let (server, _clock) = server_with_clock(MfaPolicy::default()).await;
    server
        .add_client(portcullis_core::ClientRegistration {
            require_mfa: true,
            require_pushed_authorization_requests: false,
            client_name: None,
            request_uris: Vec::new(),
            request_object_signing_alg: None,
            ..app_client()
        })
        .await;
    server.add_user("carol", &[], PASSWORD).await;
    let browser = Browser::new();
    let (step, verifier) = password_step(&browser, &server, "carol", &[]).await;
    let (status, setup) = step.expect_err("setup required");
    assert_eq!(status, 200);
    assert!(setup.contains("action=\"/signin/enroll\""), "{setup}");
    assert!(setup.contains("<svg"));
    let secret = shown_secret(&setup);
    let code = code_now(&secret, &server);
    let done = submit(
        &browser,
        &server,
        &setup,
        "/signin/enroll",
        &[("code", &code)],
    )
    .await;
    assert_eq!(done.status(), 200);
    let html = done.text().await.expect("html");
    assert_eq!(shown_recovery_codes(&html).len(), 10);
    let continue_to = html
        .split("<a href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("continue link")
        .replace("&amp;", "&");
    assert!(continue_to.starts_with("/authorize?"), "{continue_to}");
    let callback = follow(
        &browser,
        &server,
        browser.get(&server.url(&continue_to)).await,
    )
    .await
    .expect("back at the client");
    let issued = tokens(&server, &callback, &verifier).await;
    assert_eq!(
        claims_of(issued["id_token"].as_str().expect("id"))["acr"],
        AAL2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_requires_a_second_factor_of_given_roles_only() {
    let (server, _clock) = server_with_clock(MfaPolicy {
        everyone: false,
        roles: vec!["admin".into()],
    })
    .await;
    server.add_client(app_client()).await;
    server.add_user("dave", &["admin"], PASSWORD).await;
    server.add_user("erin", &["user"], PASSWORD).await;
    let (step, _) = password_step(&Browser::new(), &server, "dave", &[]).await;
    let (_, page) = step.expect_err("an admin sets up a factor");
    assert!(page.contains("action=\"/signin/enroll\""));
    let (step, verifier) = password_step(&Browser::new(), &server, "erin", &[]).await;
    let callback = step.expect("a user signs in with the password");
    let issued = tokens(&server, &callback, &verifier).await;
    let id = claims_of(issued["id_token"].as_str().expect("id"));
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["acr"], AAL1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_values_step_a_password_session_up_and_keep_its_sid() {
    let (server, clock) = server_with_clock(MfaPolicy::default()).await;
    server.add_client(app_client()).await;
    server.add_user("frank", &[], PASSWORD).await;
    let browser = Browser::new();
    let (step, verifier) = password_step(&browser, &server, "frank", &[]).await;
    let first = tokens(&server, &step.expect("password only"), &verifier).await;
    let first_id = claims_of(first["id_token"].as_str().expect("id"));
    assert_eq!(first_id["acr"], AAL1);
    // The same browser sets up an app; its session is still a password one.
    let (secret, _) = set_up_app(&browser, &server).await;
    clock.advance(30);
    // prompt=none cannot step up.
    let (_, challenge) = pkce_pair();
    let silent = browser
        .get(&authorize_url(
            &server,
            "openid",
            &challenge,
            &[("acr_values", AAL2), ("prompt", "none")],
        ))
        .await;
    let callback = location(&silent, &server.base_url);
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("login_required")
    );
    // Asking for aal2 signs in again, this time with the code.
    let (step, verifier) = password_step(&browser, &server, "frank", &[("acr_values", AAL2)]).await;
    let (_, code_page) = step.expect_err("step-up asks for the code");
    let code = code_now(&secret, &server);
    let response = submit(
        &browser,
        &server,
        &code_page,
        "/signin/code",
        &[("code", &code)],
    )
    .await;
    let callback = follow(&browser, &server, response)
        .await
        .expect("stepped up");
    let stepped = tokens(&server, &callback, &verifier).await;
    let id = claims_of(stepped["id_token"].as_str().expect("id"));
    assert_eq!(id["acr"], AAL2);
    assert_eq!(id["sid"], first_id["sid"], "the same session, now stronger");
    // Asking for aal1 now is satisfied by the stronger session without a sign-in.
    let (step, _) = password_step(&browser, &server, "frank", &[("acr_values", AAL1)]).await;
    assert!(step.expect("no sign-in").contains("code="));

    // A user without a second factor cannot get one through acr_values: the request is refused.
    server.add_user("ivan", &[], PASSWORD).await;
    let (step, _) = password_step(&Browser::new(), &server, "ivan", &[("acr_values", AAL2)]).await;
    let callback = step.expect("back at the client with an error");
    assert_eq!(
        query_param(&callback, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );

    let metadata = discovery(&server).await;
    assert_eq!(metadata["acr_values_supported"], json!([AAL1, AAL2]));
    let claims = metadata["claims_supported"].as_array().expect("claims");
    assert!(claims.contains(&json!("amr")) && claims.contains(&json!("acr")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_direct_login_needs_the_code_and_an_admin_reset_removes_the_factors() {
    let (server, clock) = server_with_clock(MfaPolicy::default()).await;
    server
        .add_client(portcullis_core::ClientRegistration {
            first_party: true,
            ..app_client()
        })
        .await;
    server.add_user("grace", &[], PASSWORD).await;
    let browser = Browser::new();
    account_session(&browser, &server, "grace").await;
    let (secret, _) = set_up_app(&browser, &server).await;
    clock.advance(30);
    let login = |body: Value| {
        let server = &server;
        async move {
            http()
                .post(server.url("/login"))
                .json(&body)
                .send()
                .await
                .expect("login")
        }
    };
    let without = login(json!({"username": "grace", "password": PASSWORD})).await;
    assert_eq!(without.status(), 401);
    assert_eq!(
        without.json::<Value>().await.expect("json")["error"],
        "second_factor_required"
    );
    let wrong = login(json!({"username": "grace", "password": PASSWORD, "otp": "000000"})).await;
    assert_eq!(
        wrong.json::<Value>().await.expect("json")["error"],
        "invalid_second_factor"
    );
    let code = code_now(&secret, &server);
    let right = login(json!({"username": "grace", "password": PASSWORD, "otp": code})).await;
    assert_eq!(right.status(), 200);
    let token = right.json::<Value>().await.expect("json")["token"].clone();
    assert_eq!(
        claims_of(token.as_str().expect("token"))["amr"],
        json!(["pwd", "otp", "mfa"])
    );

    // An administrator resets the factors: the password alone signs in again.
    let admin_token = token_of(&server, "ops", "portcullis:admin").await;
    let delete = reqwest::Method::DELETE;
    let (status, _) = call(
        &server,
        delete.clone(),
        "/admin/v1/users/grace/factors",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &server,
        delete,
        "/admin/v1/users/nobody/factors",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let plain = login(json!({"username": "grace", "password": PASSWORD})).await;
    assert_eq!(plain.status(), 200);
    let actions = audit_details(&server, "admin_action").await;
    assert!(
        actions
            .iter()
            .any(|detail| detail.contains("user.reset_factors")),
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_route_needing_mfa_sends_the_client_back_for_a_stronger_token() {
    let (server, clock) = server_with_clock(MfaPolicy::default()).await;
    server.add_client(app_client()).await;
    server.add_user("heidi", &["admin"], PASSWORD).await;
    let upstream = super::support::plain_upstream().await;
    let mut admin = portcullis_gateway::config::RouteConfig::new("admin", "/admin", &upstream);
    admin.require_acr = vec![AAL2.into()];
    admin.require_amr = vec!["mfa".into()];
    let config = portcullis_gateway::GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        issuers: vec![portcullis_gateway::config::IssuerConfig {
            issuer: server.base_url.clone(),
            jwt: true,
            introspection: None,
            jwks_url: None,
            jwks_file: None,
            audience: Some("https://api.example".into()),
            revocation_feed: None,
        }],
        routes: vec![admin],
        ..portcullis_gateway::GatewayConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = portcullis_gateway::start(&config, async move {
        let _ = stopped.await;
    })
    .await
    .expect("gateway");
    let call = |token: String| {
        let url = format!("http://{}/admin/report", gateway.address);
        async move {
            http()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("gateway")
        }
    };

    let browser = Browser::new();
    let (step, verifier) = password_step(&browser, &server, "heidi", &[]).await;
    let weak = tokens(&server, &step.expect("password only"), &verifier).await;
    let refused = call(weak["access_token"].as_str().expect("token").to_owned()).await;
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    let asked = challenge
        .split("acr_values=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("acr_values in the challenge")
        .to_owned();
    assert_eq!(asked, AAL2);

    // The user sets up an app; the client asks again with the acr_values it was given.
    let (secret, _) = set_up_app(&browser, &server).await;
    clock.advance(30);
    let (step, verifier) =
        password_step(&browser, &server, "heidi", &[("acr_values", &asked)]).await;
    let (_, code_page) = step.expect_err("the code is asked for");
    let code = code_now(&secret, &server);
    let response = submit(
        &browser,
        &server,
        &code_page,
        "/signin/code",
        &[("code", &code)],
    )
    .await;
    let callback = follow(&browser, &server, response)
        .await
        .expect("stepped up");
    let strong = tokens(&server, &callback, &verifier).await;
    let passed = call(strong["access_token"].as_str().expect("token").to_owned()).await;
    assert_eq!(passed.status(), 200);
    assert_eq!(passed.text().await.expect("body"), "upstream says hi");
    let _ = stop.send(());
    gateway.finished().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setup_form_is_good_only_for_its_user_and_a_while() {
    let (server, clock) = server_with_clock(MfaPolicy::default()).await;
    server.add_client(app_client()).await;
    server.add_user("judy", &[], PASSWORD).await;
    server.add_user("mallory", &[], PASSWORD).await;
    let judy = Browser::new();
    account_session(&judy, &server, "judy").await;
    let (_, judy_setup) = judy.page(&server.url("/account/two-step/setup")).await;
    let secret = shown_secret(&judy_setup);
    // Mallory, signed in as herself, posts Judy's setup form: refused, nothing shown.
    let mallory = Browser::new();
    account_session(&mallory, &server, "mallory").await;
    let (_, mallory_setup) = mallory.page(&server.url("/account/two-step/setup")).await;
    let mut fields: Vec<(String, String)> = hidden_fields(&mallory_setup)
        .into_iter()
        .filter(|(name, _)| name != "setup")
        .collect();
    fields.extend(
        hidden_fields(&judy_setup)
            .into_iter()
            .filter(|(name, _)| name == "setup"),
    );
    fields.push(("code".into(), code_now(&secret, &server)));
    fields.push(("current_password".into(), PASSWORD.into()));
    let response = mallory
        .post(&server.url("/account/two-step/setup"), &fields)
        .await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.expect("html");
    assert!(
        !html.contains(&secret.to_base32()[..8]),
        "Judy's secret is not shown"
    );
    assert!(html.contains("The setup expired"), "{html}");
    // Judy's own form, fifteen minutes later: expired, nothing stored.
    clock.advance(15 * 60);
    let late = submit(
        &judy,
        &server,
        &judy_setup,
        "/account/two-step/setup",
        &[
            ("code", &code_now(&secret, &server)),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(late.status(), 409);
    let user = server
        .state
        .store
        .find_user_by_username("judy")
        .await
        .expect("find")
        .expect("judy");
    assert_eq!(
        server.state.store.find_totp(&user.id).await.expect("find"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_wrong_codes_in_a_row_block_the_factors_until_a_reset() {
    let (server, clock) = server_with_clock(MfaPolicy::default()).await;
    server
        .add_client(portcullis_core::ClientRegistration {
            first_party: true,
            ..app_client()
        })
        .await;
    server.add_user("kim", &[], PASSWORD).await;
    let browser = Browser::new();
    account_session(&browser, &server, "kim").await;
    let (secret, _) = set_up_app(&browser, &server).await;
    let login = |otp: Option<String>| {
        let server = &server;
        async move {
            let mut body = json!({"username": "kim", "password": PASSWORD});
            if let Some(otp) = otp {
                body["otp"] = otp.into();
            }
            let response = http()
                .post(server.url("/login"))
                .json(&body)
                .send()
                .await
                .expect("login");
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("json");
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let mut blocked = false;
    for _ in 0..400 {
        let (status, error) = login(Some("000000".into())).await;
        if status == 429 {
            // The throttle's lockout ends; the count of wrong codes in a row does not.
            clock.advance(901);
            continue;
        }
        if error == "second_factor_blocked" {
            blocked = true;
            break;
        }
        assert_eq!(error, "invalid_second_factor", "{status}");
    }
    assert!(blocked, "blocked after a hundred wrong codes in a row");
    clock.advance(901);
    let (status, error) = login(Some(code_now(&secret, &server))).await;
    assert_eq!(
        (status, error.as_str()),
        (403, "second_factor_blocked"),
        "even the right code"
    );
    let user = server
        .state
        .store
        .find_user_by_username("kim")
        .await
        .expect("find")
        .expect("kim");
    server
        .state
        .store
        .delete_factors(&user.id)
        .await
        .expect("reset");
    let (status, _) = login(None).await;
    assert_eq!(status, 200, "after a reset the password signs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_from_a_password_sign_in_stops_when_the_client_requires_mfa() {
    let (server, _clock) = server_with_clock(MfaPolicy::default()).await;
    server.add_client(app_client()).await;
    server.add_user("leo", &[], PASSWORD).await;
    let browser = Browser::new();
    let (step, verifier) = password_step(&browser, &server, "leo", &[]).await;
    let issued = tokens(&server, &step.expect("password"), &verifier).await;
    let first: Value =
        super::browser::refresh(&server, issued["refresh_token"].as_str().expect("refresh"))
            .await
            .json()
            .await
            .expect("json");
    let rotated = first["refresh_token"]
        .as_str()
        .expect("refreshes while nothing more is required")
        .to_owned();
    let mut client = server
        .state
        .store
        .find_client(APP)
        .await
        .expect("find")
        .expect("app");
    client.require_mfa = true;
    server
        .state
        .store
        .update_client(&client)
        .await
        .expect("update");
    // As the administration use cases do after a change: the server's copy is forgotten.
    server.state.announcer.client_changed(APP);
    let response = super::browser::refresh(&server, &rotated).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|text| text.contains("second factor")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_is_told_by_email_of_every_change_and_every_recovery_code_used() {
    let Some(smtp) = portcullis_testkit::smtp::TestSmtp::start().await else {
        return;
    };
    let clock = ManualClock::new();
    let server = TestAuthServer::start_with(TestOptions {
        clock: clock.clone(),
        mailer: Some(super::email::mailer(&smtp)),
        ..TestOptions::default()
    })
    .await;
    server.add_client(app_client()).await;
    server.add_user("mia", &[], PASSWORD).await;
    let browser = Browser::new();
    account_session(&browser, &server, "mia").await;
    let (secret, recovery_codes) = set_up_app(&browser, &server).await;
    let decoded = |messages: Vec<String>| -> Vec<String> {
        messages
            .iter()
            .map(|message| super::email::decode_quoted_printable(message))
            .collect()
    };
    let on = decoded(smtp.wait_for(1, std::time::Duration::from_secs(10)).await);
    assert!(on[0].contains("To: mia@example.com"), "{}", on[0]);
    assert!(on[0].contains("Two-step verification is on"), "{}", on[0]);
    assert!(on[0].contains(&server.url("/account")), "{}", on[0]);

    // A sign-in with a recovery code is reported.
    let other = Browser::new();
    let (step, _) = password_step(&other, &server, "mia", &[]).await;
    let (_, page) = step.expect_err("code asked");
    let response = submit(
        &other,
        &server,
        &page,
        "/signin/code",
        &[("code", &recovery_codes[3])],
    )
    .await;
    follow(&other, &server, response).await.expect("signed in");
    let used = decoded(smtp.wait_for(2, std::time::Duration::from_secs(10)).await);
    assert!(
        used.iter()
            .any(|message| message.contains("A recovery code was used")
                && message.contains("9 unused recovery codes are left")),
        "{used:?}"
    );

    // Turning it off needs a current code, and is reported too.
    clock.advance(30);
    let (_, account) = browser.page(&server.url("/account")).await;
    let csrf = hidden_fields(&account)
        .into_iter()
        .find(|(name, _)| name == "csrf_token")
        .expect("csrf token");
    let remove = |code: String| {
        let fields = vec![csrf.clone(), ("code".to_owned(), code)];
        let browser = &browser;
        let url = server.url("/account/two-step/remove");
        async move { browser.post(&url, &fields).await }
    };
    let refused = remove("000000".to_owned()).await;
    assert_eq!(refused.status(), 401);
    let removed = remove(code_now(&secret, &server)).await;
    assert_eq!(removed.status(), 200);
    assert!(
        removed
            .text()
            .await
            .expect("html")
            .contains("Two-step verification is off.")
    );
    let off = decoded(smtp.wait_for(3, std::time::Duration::from_secs(10)).await);
    assert!(
        off.iter()
            .any(|message| message.contains("Two-step verification is off")),
        "{off:?}"
    );
    let changes = audit_details(&server, "second_factor_changed").await;
    assert!(
        changes
            .iter()
            .any(|detail| detail.contains("totp_enrolled")),
        "{changes:?}"
    );
    assert!(
        changes.iter().any(|detail| detail.contains("totp_removed")),
        "{changes:?}"
    );
}
