//! Providers added through the admin API: validated, their secret write-only and sealed, their
//! button there at once, gone when deleted; the file's providers are not theirs to change.

use super::super::admin_api::{call, token_of};
use super::super::browser::{Browser, PASSWORD};
use super::{Federated, start_url};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_provider_put_through_the_admin_api_signs_users_in_until_deleted() {
    // The file's provider is `corp`; the admin API adds the same upstream as `partner`.
    let federated = Federated::start(|_| {}).await;
    let server = &federated.downstream;
    let upstream = &federated.upstream;
    let token = token_of(server, "ops", "portcullis:admin").await;
    let partner = json!({
        "name": "Partner SSO",
        "issuer": upstream.base_url,
        "client_id": "downstream",
        "client_secret": "upstream-client-secret-0123456789abcdef",
        "roles": [{"claim": "preferred_username", "value": "alice", "role": "partner"}],
    });

    // Refusals name the field; a file provider's id is not the API's.
    let (status, body) = call(
        server,
        Method::PUT,
        "/admin/v1/federation/providers/partner",
        Some(&token),
        Some(json!({"name": "x", "protocol": "saml", "client_id": "c"})),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("protocol")),
        "{body}"
    );
    let (status, _) = call(
        server,
        Method::PUT,
        "/admin/v1/federation/providers/corp",
        Some(&token),
        Some(partner.clone()),
    )
    .await;
    assert_eq!(status, 409);

    let (status, body) = call(
        server,
        Method::PUT,
        "/admin/v1/federation/providers/partner",
        Some(&token),
        Some(partner),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["has_secret"], true);
    assert!(
        !body.to_string().contains("0123456789abcdef"),
        "write-only: {body}"
    );
    let (_, page) = Browser::new().page(&server.url("/signin")).await;
    assert!(page.contains("Sign in with Partner SSO") && page.contains("Sign in with Corp SSO"));

    // The upstream knows the downstream's client under the partner's redirect URI too.
    let mut client = upstream
        .state
        .store
        .find_client("downstream")
        .await
        .expect("find")
        .expect("client");
    client
        .redirect_uris
        .push(server.url("/federation/partner/callback"));
    upstream
        .state
        .store
        .update_client(&client)
        .await
        .expect("update");
    upstream.add_user("alice", &[], PASSWORD).await;
    let (up, down) = (Browser::new(), Browser::new());
    let start = start_url(server, "/account").replace("/corp/", "/partner/");
    let to_upstream = down.get(&start).await;
    let authorize = portcullis_testkit::browser::location(&to_upstream, &server.base_url);
    let callback = up
        .authorize(
            &upstream.base_url,
            &authorize,
            ("alice", PASSWORD),
            &server.url("/federation/partner/callback"),
        )
        .await;
    let back = down.get(&callback).await;
    assert_eq!(back.status(), 303, "{:?}", back.text().await);
    let made = server
        .state
        .store
        .find_user_by_username("alice")
        .await
        .expect("find")
        .expect("made");
    assert_eq!(made.roles, ["partner"]);

    // A change without a secret keeps it; the listing never shows it.
    let (status, body) = call(
        server,
        Method::PUT,
        "/admin/v1/federation/providers/partner",
        Some(&token),
        Some(json!({"name": "Partner", "issuer": upstream.base_url, "client_id": "downstream"})),
    )
    .await;
    assert_eq!(
        (status, body["has_secret"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    let (status, listed) = call(
        server,
        Method::GET,
        "/admin/v1/federation/providers",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["provider"]["name"], "Partner");

    // Another issuer under the same id: its subjects are other people, not the linked ones.
    let elsewhere = json!({"name": "Partner", "issuer": "https://elsewhere.example",
        "client_id": "downstream", "client_secret": "another"});
    let (status, _) = call(
        server,
        Method::PUT,
        "/admin/v1/federation/providers/partner",
        Some(&token),
        Some(elsewhere),
    )
    .await;
    assert_eq!(status, 409);
    // Without links, a stored secret still goes only to the provider it was given for.
    let first = json!({"name": "Other", "issuer": upstream.base_url, "client_id": "downstream",
        "client_secret": "kept-for-this-issuer"});
    let moved = json!({"name": "Other", "issuer": "https://attacker.example",
        "client_id": "downstream"});
    for (body, expected) in [(first, 200), (moved, 400)] {
        let (status, answer) = call(
            server,
            Method::PUT,
            "/admin/v1/federation/providers/other",
            Some(&token),
            Some(body),
        )
        .await;
        assert_eq!(status, expected, "{answer}");
        if expected == 400 {
            assert_eq!(answer["field"], "client_secret");
        }
    }

    let (status, _) = call(
        server,
        Method::DELETE,
        "/admin/v1/federation/providers/partner",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(
        server
            .state
            .store
            .federated_identities_of(&made.id)
            .await
            .expect("links")
            .is_empty(),
        "the links go with the provider"
    );
    let (_, page) = Browser::new().page(&server.url("/signin")).await;
    assert!(!page.contains("Partner") && page.contains("Sign in with Corp SSO"));
    let gone = Browser::new().get(&start).await;
    assert_eq!(gone.status(), 404);
    let (status, _) = call(
        server,
        Method::DELETE,
        "/admin/v1/federation/providers/partner",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn with_the_ssrf_guard_on_the_admin_api_adds_no_provider_on_an_internal_address() {
    let options = portcullis_testkit::TestOptions {
        outbound_private_networks: false,
        ..portcullis_testkit::TestOptions::default()
    };
    let federated = Federated::start_with(|_| {}, options).await;
    let server = &federated.downstream;
    let token = token_of(server, "ops", "portcullis:admin").await;
    let oauth2 = |token_endpoint: &str| {
        json!({"name": "Hub", "protocol": "oauth2", "client_id": "c",
            "authorization_endpoint": "https://hub.example/authorize",
            "token_endpoint": token_endpoint,
            "userinfo_endpoint": "https://api.hub.example/user"})
    };
    for (body, field) in [
        (
            // https, so the address (loopback) is what is refused, not the scheme.
            json!({"name": "Partner",
                "issuer": federated.upstream.base_url.replace("http://", "https://"),
                "client_id": "downstream"}),
            "issuer",
        ),
        (oauth2("https://169.254.169.254/token"), "token_endpoint"),
        (oauth2("http://hub.example/token"), "token_endpoint"),
    ] {
        let (status, answer) = call(
            server,
            Method::PUT,
            "/admin/v1/federation/providers/partner",
            Some(&token),
            Some(body),
        )
        .await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let (status, _) = call(
        server,
        Method::PUT,
        "/admin/v1/federation/providers/partner",
        Some(&token),
        Some(oauth2("https://hub.example/token")),
    )
    .await;
    assert_eq!(status, 200, "a public provider is taken");

    // The configuration file's provider, on loopback too, is the operator's: it still works.
    let (_, _, answer) = federated.first_sign_in("alice").await;
    assert_eq!(answer.status(), 303, "{:?}", answer.text().await);
}
