//! A minimal browser for the sign-in tests: a cookie jar, no automatic redirects, and form fields
//! read from the real HTML the server renders.

use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_testkit::TestAuthServer;
use portcullis_types::GrantType;

/// The public client of the sign-in tests.
pub const APP: &str = "app";
/// Its redirect URI.
pub const CALLBACK: &str = "http://127.0.0.1/callback";
/// Its registered post-logout redirect URI.
pub const AFTER_LOGOUT: &str = "http://127.0.0.1/goodbye";
/// The test user's password.
pub const PASSWORD: &str = "correct horse battery";

/// A public authorization-code client with refresh tokens, like a native or single-page app.
pub fn app_client() -> ClientRegistration {
    ClientRegistration {
        id: APP.into(),
        kind: ClientKind::Public,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![CALLBACK.into()],
        scopes: ["openid", "profile", "email", "offline_access", "api:read"]
            .map(String::from)
            .to_vec(),
        audiences: vec!["https://api.example".into()],
        access_token_lifetime_secs: None,
        first_party: false,
        post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
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
}

pub use portcullis_testkit::browser::{Browser, hidden_fields, location, pkce_pair, query_param};

/// An authorization request URL for the app.
pub fn authorize_url(
    server: &TestAuthServer,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", APP)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", scope)
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    server.url(&format!("/authorize?{}", query.finish()))
}

/// Follows an authorization request through sign-in (if asked) and consent (if asked) and returns
/// the final redirect to the client.
pub async fn authorize(
    browser: &Browser,
    server: &TestAuthServer,
    url: &str,
    username: &str,
) -> String {
    authorize_to(browser, server, url, username, CALLBACK).await
}

/// As [`authorize`], stopping at the first redirect that starts with `callback_prefix`.
pub async fn authorize_to(
    browser: &Browser,
    server: &TestAuthServer,
    url: &str,
    username: &str,
    callback_prefix: &str,
) -> String {
    browser
        .authorize(&server.base_url, url, (username, PASSWORD), callback_prefix)
        .await
}

/// Exchanges a code at the token endpoint as the public app.
pub async fn exchange(server: &TestAuthServer, code: &str, verifier: &str) -> reqwest::Response {
    super::support::http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", APP),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token request")
}

/// Refreshes as the public app.
pub async fn refresh(server: &TestAuthServer, refresh_token: &str) -> reqwest::Response {
    super::support::http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", APP),
        ])
        .send()
        .await
        .expect("refresh request")
}

/// Signs `username` in through the pages, consents, and exchanges the code: the app's tokens.
pub async fn sign_in_for_tokens(
    browser: &Browser,
    server: &TestAuthServer,
    scope: &str,
    username: &str,
) -> serde_json::Value {
    let (verifier, challenge) = pkce_pair();
    let callback = authorize(
        browser,
        server,
        &authorize_url(server, scope, &challenge, &[]),
        username,
    )
    .await;
    let code = query_param(&callback, "code").expect("code");
    exchange(server, &code, &verifier)
        .await
        .json()
        .await
        .expect("token response")
}

/// Requests an authorization URL without following anything, and returns where it redirects.
pub async fn authorize_redirect(
    browser: &Browser,
    server: &TestAuthServer,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let response = browser
        .get(&authorize_url(server, scope, challenge, extra))
        .await;
    location(&response, &server.base_url)
}

/// Signs `username` in with `password` in a fresh browser through an authorization request;
/// returns the redirect to the app (with a code when it worked).
pub async fn fresh_sign_in(server: &TestAuthServer, username: &str, password: &str) -> String {
    let (_, challenge) = pkce_pair();
    Browser::new()
        .authorize(
            &server.base_url,
            &authorize_url(server, "openid", &challenge, &[]),
            (username, password),
            CALLBACK,
        )
        .await
}
