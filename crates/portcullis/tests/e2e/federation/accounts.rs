//! Accounts through an upstream: made just in time with mapped roles, found again by the link,
//! linked to an existing account only by its owner's proof or a verified address.

use super::super::browser::{Browser, exchange, query_param};
use super::super::support::{audit_details, claims_of};
use super::{APP_CALLBACK, CORP, Federated, start_url};
use portcullis_core::federation::{AccountPolicy, ProviderProtocol};
use portcullis_testkit::browser::location;

/// The first `href` on `html` that starts with `prefix`, unescaped.
fn link_on(html: &str, prefix: &str) -> String {
    let start = html
        .find(&format!("href=\"{prefix}"))
        .unwrap_or_else(|| panic!("no link to {prefix}: {html}"))
        + "href=\"".len();
    let end = start + html[start..].find('"').expect("end of link");
    html[start..end].replace("&amp;", "&")
}

#[tokio::test]
async fn a_first_sign_in_makes_an_account_with_mapped_roles_and_returns_to_the_app() {
    let federated = Federated::start(|_| {}).await;
    let (up, down) = (Browser::new(), Browser::new());
    federated
        .upstream
        .add_user("alice", &[], super::super::browser::PASSWORD)
        .await;
    let server = &federated.downstream;

    // The app sends the browser to sign in; the page offers the provider next to the form.
    let (request, verifier) = federated.app_request();
    let to_sign_in = down.get(&request).await;
    let sign_in = location(&to_sign_in, &server.base_url);
    let (status, page) = down.page(&sign_in).await;
    assert_eq!(status, 200);
    assert!(page.contains("Sign in with Corp SSO") && page.contains("action=\"/signin\""));
    let start = format!(
        "{}{}",
        server.base_url,
        link_on(&page, "/federation/corp/start")
    );

    let back = federated
        .through_upstream(&up, &down, &start, "alice")
        .await;
    let resumed = location(&back, &server.base_url);
    assert!(resumed.starts_with(&server.url("/authorize?")), "{resumed}");
    let callback = down
        .authorize(&server.base_url, &resumed, ("", ""), APP_CALLBACK)
        .await;
    let code = query_param(&callback, "code").expect("code for the app");
    let tokens: serde_json::Value = exchange(server, &code, &verifier)
        .await
        .json()
        .await
        .expect("tokens");
    let id_token = claims_of(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id_token["amr"], serde_json::json!(["fed"]));

    let made = server
        .state
        .store
        .find_user_by_username("alice")
        .await
        .expect("find")
        .expect("an account made just in time");
    assert_eq!(id_token["sub"], made.id.as_str());
    assert_eq!(made.roles, ["reviewer"], "mapped from the claim");
    assert_eq!(made.email, None, "the upstream did not verify it");
    let links = server
        .state
        .store
        .federated_identities_of(&made.id)
        .await
        .expect("links");
    let upstream_alice = federated
        .upstream
        .state
        .store
        .find_user_by_username("alice")
        .await
        .expect("find")
        .expect("upstream alice");
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].provider.as_str(), links[0].subject.as_str()),
        (CORP, upstream_alice.id.as_str())
    );
    let sessions = server
        .state
        .sessions
        .list_sessions_of_user(&made.id)
        .await
        .expect("sessions");
    assert_eq!(sessions[0].identity_provider.as_deref(), Some(CORP));

    // Another browser later: the same account, none made.
    let (up2, down2) = (Browser::new(), Browser::new());
    let again = federated
        .through_upstream(&up2, &down2, &start_url(server, "/account"), "alice")
        .await;
    assert_eq!(location(&again, &server.base_url), server.url("/account"));
    let (_, account) = down2.page(&server.url("/account")).await;
    assert!(
        account.contains("Signed in as <strong>alice</strong>"),
        "{account}"
    );
    assert!(account.contains("Corp SSO</strong>: linked"), "{account}");
    assert!(
        account.contains("with <code>fed</code> through Corp SSO"),
        "{account}"
    );
    assert_eq!(
        server.state.store.list_users().await.expect("users").len(),
        1
    );
    let audit = audit_details(server, "federation").await;
    assert!(
        audit
            .iter()
            .any(|event| event.contains("\"action\":\"created\"")),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|event| event.contains("\"action\":\"signed_in\"")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn an_address_alone_never_links_but_the_signed_in_owner_does() {
    let federated = Federated::start(|_| {}).await;
    let server = &federated.downstream;
    // Bob has an account here; "bob-up" at the upstream claims the same address, unverified.
    let bob = server
        .add_user("bob", &[], super::super::browser::PASSWORD)
        .await;
    federated
        .upstream
        .add_user("bob-up", &[], super::super::browser::PASSWORD)
        .await;
    federated
        .upstream
        .state
        .store
        .set_email("bob-up", Some("bob@example.com"), None)
        .await
        .expect("email");

    let (up, down) = (Browser::new(), Browser::new());
    let refused = federated
        .through_upstream(&up, &down, &start_url(server, "/account"), "bob-up")
        .await;
    assert_eq!(refused.status(), 403);
    let page = refused.text().await.expect("page");
    assert!(
        page.contains("An account with your Corp SSO email address exists"),
        "{page}"
    );
    assert!(
        server
            .state
            .store
            .federated_identities_of(&bob.id)
            .await
            .expect("links")
            .is_empty(),
        "no link by an unverified address"
    );

    // Bob signs in with his password and links the provider from his account page.
    let owner = Browser::new();
    let (_, account) = owner
        .open_signed_in(
            &server.base_url,
            &server.url("/account"),
            ("bob", super::super::browser::PASSWORD),
        )
        .await;
    let mut fields = portcullis_testkit::browser::hidden_fields(
        &account[account
            .find("action=\"/account/links\"")
            .expect("link form")..],
    );
    fields.truncate(2);
    let to_upstream = owner.post(&server.url("/account/links"), &fields).await;
    let authorize = location(&to_upstream, &server.base_url);
    let callback = up
        .authorize(
            &federated.upstream.base_url,
            &authorize,
            ("bob-up", super::super::browser::PASSWORD),
            &server.url("/federation/corp/callback"),
        )
        .await;
    let linked = owner.get(&callback).await;
    assert_eq!(location(&linked, &server.base_url), server.url("/account"));
    let links = server
        .state
        .store
        .federated_identities_of(&bob.id)
        .await
        .expect("links");
    assert_eq!(links.len(), 1, "linked by the owner's proof");
    assert!(
        audit_details(server, "federation")
            .await
            .iter()
            .any(|event| event.contains("\"reason\":\"signed_in\"")),
    );

    // From now on the upstream identity signs in to Bob's account.
    let (up2, down2) = (Browser::new(), Browser::new());
    federated
        .through_upstream(&up2, &down2, &start_url(server, "/account"), "bob-up")
        .await;
    let (_, page) = down2.page(&server.url("/account")).await;
    assert!(page.contains("Signed in as <strong>bob</strong>"), "{page}");

    // Bob's only link, and no verified address to set a password through: kept.
    let (_, account) = owner.page(&server.url("/account")).await;
    let mut fields = portcullis_testkit::browser::hidden_fields(
        &account[account
            .find("action=\"/account/links/remove\"")
            .expect("remove form")..],
    );
    fields.truncate(2);
    let kept = owner
        .post(&server.url("/account/links/remove"), &fields)
        .await;
    assert_eq!(kept.status(), 409);
    // With the address verified, it goes.
    server
        .state
        .store
        .set_email("bob", Some("bob@example.com"), Some(1))
        .await
        .expect("verify");
    let removed = owner
        .post(&server.url("/account/links/remove"), &fields)
        .await;
    assert_eq!(removed.status(), 303);
    assert!(
        server
            .state
            .store
            .federated_identities_of(&bob.id)
            .await
            .expect("links")
            .is_empty()
    );
}

#[tokio::test]
async fn a_provider_trusted_for_addresses_links_a_verified_one() {
    let federated = Federated::start(|provider| provider.link_by_verified_email = true).await;
    let server = &federated.downstream;
    let carol = server
        .add_user("carol", &[], super::super::browser::PASSWORD)
        .await;
    server
        .state
        .store
        .set_email("carol", Some("carol@example.com"), Some(1))
        .await
        .expect("verify");
    federated
        .upstream
        .add_user("carol-up", &[], super::super::browser::PASSWORD)
        .await;
    let upstream_store = &federated.upstream.state.store;
    upstream_store
        .set_email("carol-up", Some("Carol@Example.com"), Some(1))
        .await
        .expect("verify");

    let (up, down) = (Browser::new(), Browser::new());
    let back = federated
        .through_upstream(&up, &down, &start_url(server, "/account"), "carol-up")
        .await;
    assert_eq!(back.status(), 303, "{:?}", back.text().await);
    let (_, page) = down.page(&server.url("/account")).await;
    assert!(
        page.contains("Signed in as <strong>carol</strong>"),
        "{page}"
    );
    assert_eq!(
        server
            .state
            .store
            .federated_identities_of(&carol.id)
            .await
            .expect("links")
            .len(),
        1
    );
    assert!(
        audit_details(server, "federation")
            .await
            .iter()
            .any(|event| event.contains("\"reason\":\"verified_email\"")),
    );
}

#[tokio::test]
async fn an_existing_accounts_only_provider_refuses_a_stranger() {
    let federated =
        Federated::start(|provider| provider.accounts = AccountPolicy::ExistingOnly).await;
    let (_up, _down, refused) = federated.first_sign_in("mallory").await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .expect("page")
            .contains("No account here is linked")
    );
    assert!(
        federated
            .downstream
            .state
            .store
            .list_users()
            .await
            .expect("users")
            .is_empty()
    );
}

#[tokio::test]
async fn a_plain_oauth_provider_is_read_through_its_userinfo_endpoint() {
    let federated = Federated::start(|provider| {
        let issuer = match &provider.protocol {
            ProviderProtocol::OpenIdConnect { issuer } => issuer.clone(),
            ProviderProtocol::OAuth2 { .. } => unreachable!(),
        };
        provider.protocol = ProviderProtocol::OAuth2 {
            issuer: None,
            authorization_endpoint: format!("{issuer}/authorize"),
            token_endpoint: format!("{issuer}/token"),
            userinfo_endpoint: format!("{issuer}/userinfo"),
        };
        // GitHub style: the name from another claim.
        provider.claims.username = "name".into();
        provider.role_rules[0].claim = "name".into();
    })
    .await;
    let (_up, _down, back) = federated.first_sign_in("alice").await;
    assert_eq!(back.status(), 303);
    let made = federated
        .downstream
        .state
        .store
        .find_user_by_username("alice")
        .await
        .expect("find")
        .expect("made from the userinfo answer");
    assert_eq!(made.roles, ["reviewer"]);
}

#[tokio::test]
async fn a_second_factor_required_here_comes_after_the_upstream() {
    let federated = Federated::start_with(
        |_| {},
        portcullis_testkit::TestOptions {
            mfa: portcullis_core::MfaPolicy {
                everyone: true,
                roles: vec![],
            },
            ..portcullis_testkit::TestOptions::default()
        },
    )
    .await;
    let (_up, _down, back) = federated.first_sign_in("alice").await;
    let next = location(&back, &federated.downstream.base_url);
    assert!(
        next.contains("/signin/"),
        "to set up a second factor: {next}"
    );
    let set_cookies: Vec<&str> = back
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    assert!(
        !set_cookies
            .iter()
            .any(|cookie| cookie.starts_with("portcullis_session=")),
        "no session before the second factor: {set_cookies:?}"
    );
}

#[tokio::test]
async fn private_key_jwt_authenticates_at_the_upstream_without_a_secret() {
    let federated = Federated::start(|provider| {
        provider.private_key_jwt = true;
        provider.client_secret = None;
    })
    .await;
    // The upstream knows the downstream by the keys it publishes, not by a secret.
    let upstream = &federated.upstream;
    let jwks = federated.downstream.url("/.well-known/jwks.json");
    upstream
        .state
        .store
        .delete_client(super::DOWNSTREAM_CLIENT)
        .await
        .expect("delete");
    let (client, secret) = upstream
        .add_client(portcullis_core::ClientRegistration {
            keys: Some(portcullis_core::ClientKeys::remote(&jwks).expect("jwks_uri")),
            ..super::downstream_registration(&federated.downstream)
        })
        .await;
    assert_eq!(secret, None);
    assert_eq!(client.authentication_method().as_str(), "private_key_jwt");
    upstream
        .add_user("alice", &[], super::super::browser::PASSWORD)
        .await;
    let (up, down) = (Browser::new(), Browser::new());
    let back = federated
        .through_upstream(
            &up,
            &down,
            &start_url(&federated.downstream, "/account"),
            "alice",
        )
        .await;
    assert_eq!(back.status(), 303, "{:?}", back.text().await);
    assert!(
        federated
            .downstream
            .state
            .store
            .find_user_by_username("alice")
            .await
            .expect("find")
            .is_some()
    );
}

#[tokio::test]
async fn signing_out_here_signs_out_at_the_provider_and_returns() {
    let federated = Federated::start(|provider| {
        provider.upstream_logout = true;
        provider.domains = vec!["example.com".into()];
    })
    .await;
    let server = &federated.downstream;
    federated
        .upstream
        .add_user("alice", &[], super::super::browser::PASSWORD)
        .await;
    let (up, down) = (Browser::new(), Browser::new());

    // A login_hint in the provider's domain goes straight to it (home realm discovery).
    let (request, _) = federated.app_request();
    let hinted = format!("{request}&login_hint=alice%40example.com");
    let to_sign_in = down.get(&hinted).await;
    let sign_in = location(&to_sign_in, &server.base_url);
    let to_start = down.get(&sign_in).await;
    let start = location(&to_start, &server.base_url);
    assert!(
        start.starts_with(&server.url("/federation/corp/start?")),
        "{start}"
    );
    let back = federated
        .through_upstream(&up, &down, &start, "alice")
        .await;
    assert_eq!(back.status(), 303);

    // Sign out here: then at the provider (its confirmation), then back here.
    let (_, confirm) = down.page(&server.url("/logout")).await;
    let fields = portcullis_testkit::browser::hidden_fields(&confirm);
    let signed_out = down.post(&server.url("/logout"), &fields).await;
    let at_provider = location(&signed_out, &server.base_url);
    assert!(
        at_provider.starts_with(&federated.upstream.url("/logout?")),
        "{at_provider}"
    );
    let (_, provider_confirm) = up.page(&at_provider).await;
    let provider_fields = portcullis_testkit::browser::hidden_fields(&provider_confirm);
    let provider_done = up
        .post(&federated.upstream.url("/logout"), &provider_fields)
        .await;
    let returned = location(&provider_done, &federated.upstream.base_url);
    assert!(
        returned.starts_with(&server.url("/federation/corp/signed-out?")),
        "{returned}"
    );
    let (status, page) = down.page(&returned).await;
    assert_eq!(status, 200);
    assert!(page.contains("You are signed out."), "{page}");
    // Both sessions are over.
    for (browser, base) in [
        (&down, &server.base_url),
        (&up, &federated.upstream.base_url),
    ] {
        let account = browser.get(&format!("{base}/account")).await;
        assert_eq!(account.status(), 303, "signed out at {base}");
    }
    // A forged way back goes nowhere else.
    let forged = down
        .get(&server.url("/federation/corp/signed-out?state=aHR0cHM6Ly9ldmlsLmV4YW1wbGU.AAAA"))
        .await;
    assert_eq!(forged.status(), 200);
}

#[tokio::test]
async fn two_tabs_each_return_to_their_own_request() {
    let federated = Federated::start(|_| {}).await;
    let server = &federated.downstream;
    federated
        .upstream
        .add_user("alice", &[], super::super::browser::PASSWORD)
        .await;
    // One browser, two tabs: each starts a round trip before either comes back.
    let (up, down) = (Browser::new(), Browser::new());
    let (request, _) = federated.app_request();
    let mut callbacks = Vec::new();
    for return_to in [request.trim_start_matches(&server.base_url), "/account"] {
        let to_upstream = down.get(&start_url(server, return_to)).await;
        let authorize = location(&to_upstream, &server.base_url);
        let callback = up
            .authorize(
                &federated.upstream.base_url,
                &authorize,
                ("alice", super::super::browser::PASSWORD),
                &server.url("/federation/corp/callback"),
            )
            .await;
        callbacks.push((return_to.to_owned(), callback));
    }
    // The second tab comes back first; each lands where it started.
    for (return_to, callback) in callbacks.into_iter().rev() {
        let back = down.get(&callback).await;
        assert_eq!(location(&back, &server.base_url), server.url(&return_to));
    }
    assert_eq!(
        server.state.store.list_users().await.expect("users").len(),
        1
    );
}
