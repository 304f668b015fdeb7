//! A minimal browser for the sign-in tests: a cookie jar, no automatic redirects, and form fields
//! read from the real HTML the server renders.

use portcullis_core::{ClientKind, ClientRegistration, pkce};
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
    }
}

/// A browser with its own cookie jar.
pub struct Browser {
    http: reqwest::Client,
}

impl Browser {
    /// A fresh browser: no cookies.
    pub fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("GET")
    }

    /// `POST url` with a form.
    pub async fn post(&self, url: &str, fields: &[(String, String)]) -> reqwest::Response {
        self.http.post(url).form(fields).send().await.expect("POST")
    }
}

/// The `Location` of a redirect, made absolute against `base`.
pub fn location(response: &reqwest::Response, base: &str) -> String {
    assert_eq!(response.status(), 303, "expected a redirect");
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    }
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of the page's form, as the browser would submit them.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[start + 27..];
        let name_end = rest.find('"').expect("name end");
        let name = unescape(&rest[..name_end]);
        rest = &rest[name_end..];
        let value_start = rest.find("value=\"").expect("value") + 7;
        rest = &rest[value_start..];
        let value_end = rest.find('"').expect("value end");
        fields.push((name, unescape(&rest[..value_end])));
        rest = &rest[value_end..];
    }
    fields
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = portcullis_core::generate_secret(32).expect("verifier");
    let challenge = pkce::s256_challenge(&verifier);
    (verifier, challenge)
}

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
    let mut response = browser.get(url).await;
    for _ in 0..10 {
        if response.status() == 303 {
            let next = location(&response, &server.base_url);
            if next.starts_with(callback_prefix) {
                return next;
            }
            response = browser.get(&next).await;
            continue;
        }
        assert_eq!(response.status(), 200, "unexpected page");
        let html = response.text().await.expect("html");
        let mut fields = hidden_fields(&html);
        if html.contains("action=\"/signin\"") {
            fields.push(("username".into(), username.into()));
            fields.push(("password".into(), PASSWORD.into()));
            response = browser.post(&server.url("/signin"), &fields).await;
        } else if html.contains("name=\"decision\"") {
            fields.push(("decision".into(), "allow".into()));
            response = browser.post(&server.url("/authorize"), &fields).await;
        } else {
            panic!("unexpected page: {html}");
        }
    }
    panic!("authorization did not finish");
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
