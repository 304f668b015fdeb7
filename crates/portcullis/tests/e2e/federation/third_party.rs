//! panva's oidc-provider (from npm) as the upstream: its own sign-in and consent pages, its
//! id tokens and userinfo.

use super::super::browser::Browser;
use super::{CORP, corp};
use portcullis_auth::federation::FederationSettings;
use portcullis_core::federation::ProviderProtocol;
use portcullis_testkit::oidc_provider::{TestOidcProvider, sign_in_client, sign_in_through};
use portcullis_testkit::{TestAuthServer, TestOptions, free_loopback_address};

const SECRET: &str = "panva-client-secret-0123456789abcdef";

#[tokio::test]
async fn panva_oidc_provider_signs_a_new_user_in() {
    // The downstream's address first: the provider must know its redirect URI.
    let address = free_loopback_address();
    let base = format!("http://{address}");
    let callback = format!("{base}/federation/{CORP}/callback");
    let Some(provider) = TestOidcProvider::start_with_sign_in(
        vec![sign_in_client("portcullis", SECRET, &callback, "read")],
        "api",
        "read",
        300,
    )
    .await
    else {
        return;
    };
    let placeholder = TestAuthServer::start().await;
    let mut upstream = corp(&placeholder, SECRET);
    upstream.client_id = "portcullis".into();
    upstream.display_name = "Panva".into();
    // The scopes this provider is configured with.
    upstream.scopes = "openid".into();
    upstream.protocol = ProviderProtocol::OpenIdConnect {
        issuer: provider.issuer.clone(),
    };
    let server = TestAuthServer::start_with(TestOptions {
        listen: Some(address),
        federation: FederationSettings {
            providers: vec![upstream],
            local_sign_in: false,
        },
        ..TestOptions::default()
    })
    .await;
    // Only the provider signs in here: no password form.
    let browser = Browser::new();
    let (_, sign_in) = browser.page(&server.url("/signin")).await;
    assert!(sign_in.contains("Sign in with Panva") && !sign_in.contains("action=\"/signin\""));

    let start = server.url(&format!("/federation/{CORP}/start?return_to=%2Faccount"));
    let response = browser.get(&start).await;
    let (back, _) = sign_in_through(&browser, response, start, &base, "ada").await;
    assert_eq!(
        back,
        server.url("/account"),
        "back where the sign-in started"
    );
    let (status, account) = browser.page(&server.url("/account")).await;
    assert_eq!(status, 200);
    assert!(account.contains("Panva</strong>: linked"), "{account}");
    let link = server
        .state
        .store
        .find_federated_identity(CORP, "ada")
        .await
        .expect("find")
        .expect("linked to panva's subject");
    let user = server
        .state
        .store
        .find_user_by_id(&link.user_id)
        .await
        .expect("find")
        .expect("made");
    assert!(user.username.as_str().starts_with("ada") || user.username.as_str().starts_with(CORP));
}
