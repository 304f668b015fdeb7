//! Router tests: the real auth router over a temporary SQLite store, driven in process with
//! `tower::ServiceExt::oneshot` (no socket), for the token and authorization endpoints' answers
//! and error paths. End-to-end flows over real HTTP live in the binary's tests.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_testkit::TestAuthServer;
use portcullis_types::GrantType;
use std::net::SocketAddr;
use tower::ServiceExt;

const REDIRECT: &str = "https://app.example/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn registration(id: &str, kind: ClientKind, grants: Vec<GrantType>) -> ClientRegistration {
    ClientRegistration {
        id: id.into(),
        kind,
        grant_types: grants,
        redirect_uris: vec![REDIRECT.into()],
        scopes: vec!["openid".into(), "api:read".into()],
        audiences: vec!["https://api.example".into()],
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
}

/// A server with a confidential `service` (client credentials) and a public `app` (code flow);
/// returns it with the service's secret.
async fn server() -> (TestAuthServer, String) {
    let server = TestAuthServer::start().await;
    let (_, secret) = server
        .add_client(registration(
            "service",
            ClientKind::Confidential,
            vec![GrantType::ClientCredentials],
        ))
        .await;
    server
        .add_client(registration(
            "app",
            ClientKind::Public,
            vec![GrantType::AuthorizationCode],
        ))
        .await;
    (server, secret.expect("secret"))
}

async fn send(server: &TestAuthServer, request: Request<Body>) -> Response {
    let mut request = request;
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50_000))));
    portcullis_auth::router(server.state.clone())
        .oneshot(request)
        .await
        .expect("infallible router")
}

async fn json(response: Response) -> serde_json::Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    serde_json::from_slice(&bytes).expect("JSON body")
}

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

async fn token_request(
    server: &TestAuthServer,
    authorization: Option<&str>,
    form: &str,
) -> Response {
    let mut request =
        Request::post("/token").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    send(
        server,
        request.body(Body::from(form.to_owned())).expect("request"),
    )
    .await
}

#[tokio::test]
async fn token_endpoint_issues_for_client_credentials_without_caching() {
    let (server, secret) = server().await;
    let response = token_request(
        &server,
        Some(&basic("service", &secret)),
        "grant_type=client_credentials&scope=api:read",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body = json(response).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api:read");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    server.stop().await;
}

#[tokio::test]
async fn token_endpoint_errors_are_rfc_6749_json() {
    let (server, secret) = server().await;
    let service = basic("service", &secret);
    let cases: [(Option<&str>, &str, StatusCode, &str); 6] = [
        (
            Some(&service),
            "scope=api:read",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            Some(&service),
            "grant_type=password&username=a&password=b",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            Some(&basic("service", "wrong")),
            "grant_type=client_credentials",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            "grant_type=client_credentials",
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            None,
            "grant_type=client_credentials&client_id=app",
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
        ),
        (
            None,
            "grant_type=authorization_code&client_id=app&code=unknown&code_verifier=x",
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ];
    for (authorization, form, status, error) in cases {
        let response = token_request(&server, authorization, form).await;
        assert_eq!(response.status(), status, "{form}");
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6749 §5.2: a 401 names the scheme to use.
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        }
        assert_eq!(json(response).await["error"], error, "{form}");
    }
    let missing_code = token_request(
        &server,
        None,
        "grant_type=authorization_code&client_id=app&code_verifier=x",
    )
    .await;
    let body = json(missing_code).await;
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], "code is required");
    server.stop().await;
}

async fn authorize(server: &TestAuthServer, query: &str) -> Response {
    let request = Request::get(format!("/authorize?{query}"))
        .body(Body::empty())
        .expect("request");
    send(server, request).await
}

/// The redirect's target: its path (or URL before the query) and its query parameters.
fn location(response: &Response) -> (String, Vec<(String, String)>) {
    let location = response.headers()[header::LOCATION]
        .to_str()
        .expect("ASCII location");
    let (target, query) = location.split_once('?').unwrap_or((location, ""));
    let params = form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    (target.to_owned(), params)
}

fn query_value<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[tokio::test]
async fn authorize_without_a_session_sends_the_user_to_sign_in_and_back() {
    let (server, _) = server().await;
    let query = format!(
        "response_type=code&client_id=app&redirect_uri={REDIRECT}&scope=openid&state=s1\
         &code_challenge={CHALLENGE}&code_challenge_method=S256&login_hint=alice&prompt=login"
    );
    let response = authorize(&server, &query).await;
    assert!(response.status().is_redirection());
    let (target, params) = location(&response);
    assert_eq!(target, "/signin");
    assert_eq!(query_value(&params, "login_hint"), Some("alice"));
    let return_to = query_value(&params, "return_to").expect("return_to");
    assert!(return_to.starts_with("/authorize?"));
    assert!(return_to.contains("state=s1"));
    assert!(!return_to.contains("prompt=login"), "{return_to}");
    server.stop().await;
}

#[tokio::test]
async fn authorize_redirects_errors_only_to_a_registered_redirect_uri() {
    let (server, _) = server().await;
    // prompt=none without a session: login_required at the client, with state and iss.
    let query = format!(
        "response_type=code&client_id=app&redirect_uri={REDIRECT}&scope=openid&state=s2\
         &code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=none"
    );
    let response = authorize(&server, &query).await;
    assert!(response.status().is_redirection());
    let (target, params) = location(&response);
    assert_eq!(target, REDIRECT);
    assert_eq!(query_value(&params, "error"), Some("login_required"));
    assert_eq!(query_value(&params, "state"), Some("s2"));
    assert_eq!(query_value(&params, "iss"), Some(server.base_url.as_str()));
    // An unknown client or an unregistered redirect URI: an error page, never a redirect.
    for query in [
        format!("response_type=code&client_id=nobody&redirect_uri={REDIRECT}&scope=openid"),
        format!(
            "response_type=code&client_id=app&redirect_uri=https://evil.example/cb&scope=openid\
             &code_challenge={CHALLENGE}&code_challenge_method=S256"
        ),
    ] {
        let response = authorize(&server, &query).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(!response.headers().contains_key(header::LOCATION));
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .is_ok_and(|value| value.starts_with("text/html"))
        );
    }
    server.stop().await;
}

/// Every answer carries a request id, and is counted by its route pattern: a token, an unknown
/// path (never its raw path as a label), a wrong method, and a form over the 64 KiB body limit.
#[tokio::test]
async fn every_answer_has_a_request_id_and_is_counted_by_route() {
    let (server, secret) = server().await;
    let oversized = format!("grant_type=client_credentials&scope={}", "a".repeat(70_000));
    let requests = [
        (
            "POST",
            "/token",
            "grant_type=client_credentials".to_owned(),
            StatusCode::OK,
        ),
        (
            "GET",
            "/no/such/path-with-secret",
            String::new(),
            StatusCode::NOT_FOUND,
        ),
        (
            "DELETE",
            "/token",
            String::new(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("POST", "/token", oversized, StatusCode::PAYLOAD_TOO_LARGE),
    ];
    let mut ids = Vec::new();
    for (method, uri, body, expected) in requests {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, basic("service", &secret))
            .body(Body::from(body))
            .unwrap();
        let response = send(&server, request).await;
        assert_eq!(response.status(), expected, "{method} {uri}");
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 16, "{method} {uri}: {id}");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "each request has its own id");

    let metrics = server.state.metrics.render();
    for expected in [
        r#"portcullis_http_requests_total{route="/token",method="POST",status="200"} 1"#,
        r#"portcullis_http_requests_total{route="/token",method="POST",status="413"} 1"#,
        r#"portcullis_http_requests_total{route="/token",method="DELETE",status="405"} 1"#,
        r#"portcullis_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
    ] {
        assert!(metrics.contains(expected), "{expected} missing:\n{metrics}");
    }
    assert!(!metrics.contains("path-with-secret"));
}
