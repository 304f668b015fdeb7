//! Any query string at /authorize: parsing and validation against a registered client must never
//! panic, and must never accept a redirect URI that is not registered (RFC 6749 §3.1.2.3).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_auth::form::OAuthParams;
use portcullis_core::authorize::{redirect_uri_matches, validate_authorization};
use portcullis_core::{Client, ClientKind, ClientRegistration, TokenPolicy};
use portcullis_types::GrantType;
use std::sync::LazyLock;

static CLIENT: LazyLock<Client> = LazyLock::new(|| {
    ClientRegistration {
        id: "app".into(),
        kind: ClientKind::Public,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec!["https://app.example/cb".into(), "http://127.0.0.1/cb".into()],
        scopes: vec!["openid".into(), "profile".into(), "offline_access".into()],
        audiences: vec!["api".into()],
        access_token_lifetime_secs: None,
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_algorithm: None,
        keys: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        require_mfa: false,
        require_pushed_authorization_requests: false,
        client_name: None,
        request_uris: Vec::new(),
        request_object_signing_alg: None,
    }
    .into_client(None, 3600, 0)
    .expect("client")
});

static POLICY: LazyLock<TokenPolicy> = LazyLock::new(|| TokenPolicy {
    issuer: "https://issuer.example".into(),
    default_audience: "api://default".into(),
    default_access_token_lifetime_secs: 3600,
    max_access_token_lifetime_secs: 86_400,
});

fuzz_target!(|query: &str| {
    let Ok(params) = OAuthParams::from_query(query) else {
        return;
    };
    let raw = params.authorization_params();
    if let Ok(request) = validate_authorization(Some(&CLIENT), &raw, &POLICY) {
        assert!(
            CLIENT
                .redirect_uris
                .iter()
                .any(|registered| redirect_uri_matches(registered, &request.redirect_uri)),
            "accepted an unregistered redirect URI: {}",
            request.redirect_uri
        );
    }
});
