//! JWT-secured authorization requests (RFC 9101) end to end, with objects signed by a
//! third-party JOSE library (`jsonwebtoken`): a signed object is the request, at `/authorize` and
//! pushed to `/par`, by value or by reference from a URL the client registered; a wrong
//! signature, no signature, another audience, an expired object and a plain parameter that
//! disagrees are refused with `invalid_request_object`, an unregistered or unusable reference
//! with `invalid_request_uri`; unsigned objects only for a client registered for them.

use super::browser::{
    APP, Browser, CALLBACK, PASSWORD, app_client, authorize, exchange, location, pkce_pair,
    query_param,
};
use super::support::{discovery, http};
use portcullis_core::{ClientKeys, ClientRegistration, RequestObjectAlg};
use portcullis_testkit::TestAuthServer;
use portcullis_testkit::client_key::ClientKey;
use serde_json::{Value, json};

fn now() -> i64 {
    use portcullis_core::Clock;
    portcullis_core::SystemClock.now()
}

/// The app, with `key` registered for its request objects.
async fn server_with_signing_app(key: &ClientKey) -> TestAuthServer {
    let server = TestAuthServer::start().await;
    server
        .add_client(ClientRegistration {
            keys: Some(ClientKeys::inline_from_json(&key.jwks().to_string()).expect("jwks")),
            ..app_client()
        })
        .await;
    server.add_user("fay", &["user"], PASSWORD).await;
    server
}

/// The claims of a request object of the app for `server`, with PKCE `challenge`.
fn request_claims(server: &TestAuthServer, challenge: &str) -> Value {
    json!({
        "iss": APP,
        "aud": server.base_url,
        "exp": now() + 300,
        "client_id": APP,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "scope": "openid api:read",
        "state": "signed-state",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    })
}

fn authorize_with(server: &TestAuthServer, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", APP);
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    server.url(&format!("/authorize?{}", query.finish()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_object_is_the_request() {
    let key = ClientKey::new("k1");
    let server = server_with_signing_app(&key).await;
    let metadata = discovery(&server).await;
    assert_eq!(metadata["request_parameter_supported"], true);
    assert!(
        metadata["request_object_signing_alg_values_supported"]
            .as_array()
            .expect("algs")
            .contains(&Value::from("ES256"))
    );

    let (verifier, challenge) = pkce_pair();
    let object = key.sign(&request_claims(&server, &challenge));
    // The browser carries only client_id and the object; a plain parameter that agrees is fine.
    let url = authorize_with(&server, &[("request", &object), ("response_type", "code")]);
    let callback = authorize(&Browser::new(), &server, &url, "fay").await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some("signed-state")
    );
    let code = query_param(&callback, "code").expect("code");
    let tokens = exchange(&server, &code, &verifier).await;
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.expect("json");
    assert!(
        tokens["id_token"].is_string(),
        "openid came from the object"
    );

    // Verified once, the request continues as a pushed one: its `prompt=login` asks for a
    // sign-in, which then satisfies it (no loop), and the browser carries only a reference.
    let (verifier, challenge) = pkce_pair();
    let mut claims = request_claims(&server, &challenge);
    claims["prompt"] = json!("login");
    let browser = Browser::new();
    let url = authorize_with(&server, &[("request", &key.sign(&claims))]);
    let first = browser.get(&url).await;
    let reference = location(&first, &server.base_url);
    assert!(
        reference.contains("request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A"),
        "{reference}"
    );
    let callback = authorize(&browser, &server, &url, "fay").await;
    let code = query_param(&callback, "code").expect("code");
    assert_eq!(exchange(&server, &code, &verifier).await.status(), 200);

    // Pushed (RFC 9126 §3): verified at the push, its parameters kept.
    let (_, challenge) = pkce_pair();
    let pushed = http()
        .post(server.url("/par"))
        .form(&[
            ("client_id", APP),
            ("request", &key.sign(&request_claims(&server, &challenge))),
        ])
        .send()
        .await
        .expect("push");
    assert_eq!(pushed.status(), 201);
    let bad_push = http()
        .post(server.url("/par"))
        .form(&[
            ("client_id", APP),
            (
                "request",
                &ClientKey::new("k1").sign(&request_claims(&server, &challenge)),
            ),
        ])
        .send()
        .await
        .expect("push");
    assert_eq!(bad_push.status(), 400);
    let bad_push: Value = bad_push.json().await.expect("json");
    assert_eq!(bad_push["error"], "invalid_request_object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_objects_are_refused_never_ignored() {
    let key = ClientKey::new("k1");
    let server = server_with_signing_app(&key).await;
    let (_, challenge) = pkce_pair();
    let claims = request_claims(&server, &challenge);
    let with = |change: &dyn Fn(&mut Value)| {
        let mut changed = claims.clone();
        change(&mut changed);
        changed
    };
    let unsigned = format!(
        "{}.{}.",
        data_encoding::BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#),
        data_encoding::BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    );
    let cases: Vec<(&str, String)> = vec![
        ("another key", ClientKey::new("k1").sign(&claims)),
        ("unsigned", unsigned),
        (
            "another audience",
            key.sign(&with(&|claims| {
                claims["aud"] = json!("https://other.example")
            })),
        ),
        (
            "expired",
            key.sign(&with(&|claims| claims["exp"] = json!(now() - 120))),
        ),
        (
            "another client inside",
            key.sign(&with(&|claims| claims["client_id"] = json!("someone-else"))),
        ),
        (
            "nested",
            key.sign(&with(&|claims| {
                claims["request_uri"] = json!("https://x.example/r")
            })),
        ),
    ];
    let browser = Browser::new();
    for (case, object) in cases {
        // The plain redirect URI is registered: the error goes back to the client.
        let url = authorize_with(
            &server,
            &[
                ("request", &object),
                ("redirect_uri", CALLBACK),
                ("state", "plain-state"),
            ],
        );
        let response = browser.get(&url).await;
        let back = location(&response, &server.base_url);
        assert!(back.starts_with(CALLBACK), "{case}: {back}");
        assert_eq!(
            query_param(&back, "error").as_deref(),
            Some("invalid_request_object"),
            "{case}"
        );
        assert!(query_param(&back, "code").is_none(), "{case}");
    }

    // A plain parameter that disagrees with the object's is refused, not silently dropped.
    let object = key.sign(&claims);
    let response = browser
        .get(&authorize_with(
            &server,
            &[
                ("request", &object),
                ("redirect_uri", CALLBACK),
                ("scope", "openid"),
            ],
        ))
        .await;
    let back = location(&response, &server.base_url);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request_object"),
        "{back}"
    );
    assert!(
        query_param(&back, "error_description")
            .is_some_and(|description| description.contains("scope")),
        "{back}"
    );

    // Without a registered plain redirect URI, an error page (nothing to redirect to).
    let (status, page) = browser
        .page(&authorize_with(&server, &[("request", "not-a-jwt")]))
        .await;
    assert_eq!(status, 400);
    assert!(page.contains("request object is not valid"), "{page}");

    // A client without registered keys cannot use request objects at all.
    let keyless = TestAuthServer::start().await;
    keyless.add_client(app_client()).await;
    let (status, _) = browser
        .page(&authorize_with(&keyless, &[("request", &object)]))
        .await;
    assert_eq!(status, 400);
}

/// A web server publishing request objects at `/req.jwt` (whatever was last put there) and one
/// of the wrong type at `/wrong-type.jwt`, counting requests per path.
struct ObjectHost {
    base: String,
    object: std::sync::Arc<std::sync::Mutex<String>>,
    hits: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ObjectHost {
    async fn start() -> ObjectHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let object = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (served, counted) = (object.clone(), hits.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (served, counted) = (served.clone(), counted.clone());
            async move {
                counted.lock().expect("hits").push(uri.path().to_owned());
                let body = served.lock().expect("object").clone();
                let content_type = match uri.path() {
                    "/req.jwt" => "application/oauth-authz-req+jwt",
                    path if path.starts_with("/objects/") => "application/oauth-authz-req+jwt",
                    _ => "text/html",
                };
                ([(axum::http::header::CONTENT_TYPE, content_type)], body)
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        ObjectHost { base, object, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn serve(&self, object: String) {
        *self.object.lock().expect("object") = object;
    }

    fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .iter()
            .filter(|hit| *hit == path)
            .count()
    }
}

fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        data_encoding::BASE64URL_NOPAD.encode(br#"{"alg":"none"}"#),
        data_encoding::BASE64URL_NOPAD.encode(claims.to_string().as_bytes())
    )
}

/// The error an authorization request to `url` is sent back to the client with.
async fn refused_with(browser: &Browser, server: &TestAuthServer, url: &str) -> Option<String> {
    let back = location(&browser.get(url).await, &server.base_url);
    assert!(back.starts_with(CALLBACK), "{back}");
    assert!(query_param(&back, "code").is_none(), "{back}");
    query_param(&back, "error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_objects_by_reference_and_unsigned_ones_for_clients_registered_for_them() {
    let key = ClientKey::new("k1");
    let host = ObjectHost::start().await;
    // A stack on one machine: the object host is on loopback.
    let server = TestAuthServer::start_with(portcullis_testkit::TestOptions {
        outbound_private_networks: true,
        ..portcullis_testkit::TestOptions::default()
    })
    .await;
    let keys = ClientKeys::inline_from_json(&key.jwks().to_string()).expect("jwks");
    server
        .add_client(ClientRegistration {
            keys: Some(keys.clone()),
            request_uris: vec![
                host.url("/req.jwt"),
                host.url("/wrong-type.jwt"),
                host.url("/objects/"),
            ],
            ..app_client()
        })
        .await;
    server
        .add_client(ClientRegistration {
            id: "unsigned-app".into(),
            request_object_signing_alg: Some(RequestObjectAlg::Unsigned),
            ..app_client()
        })
        .await;
    server
        .add_client(ClientRegistration {
            id: "eddsa-app".into(),
            keys: Some(keys),
            request_object_signing_alg: Some(RequestObjectAlg::Signed(
                portcullis_jose::Algorithm::EdDsa,
            )),
            ..app_client()
        })
        .await;
    server.add_user("fay", &["user"], PASSWORD).await;
    let browser = Browser::new();

    // By reference (RFC 9101 §5.2): fetched from the URL the client registered.
    let (verifier, challenge) = pkce_pair();
    host.serve(key.sign(&request_claims(&server, &challenge)));
    let url = authorize_with(&server, &[("request_uri", &host.url("/req.jwt"))]);
    let callback = authorize(&browser, &server, &url, "fay").await;
    assert_eq!(
        query_param(&callback, "state").as_deref(),
        Some("signed-state")
    );
    let code = query_param(&callback, "code").expect("code");
    assert_eq!(exchange(&server, &code, &verifier).await.status(), 200);
    assert_eq!(host.hits("/req.jwt"), 1);
    // A URL per request, under a registered directory; its fragment (a hash of the contents,
    // OpenID Connect Core §6.2) is not sent.
    let (_, challenge) = pkce_pair();
    host.serve(key.sign(&request_claims(&server, &challenge)));
    let url = authorize_with(
        &server,
        &[("request_uri", &host.url("/objects/r-42.jwt#c2hhMjU2"))],
    );
    let callback = authorize(&browser, &server, &url, "fay").await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");
    assert_eq!(host.hits("/objects/r-42.jwt"), 1);

    // Refused, back at the client: a URL it did not register (never fetched), one answering
    // with another type, and an object sent both ways.
    let plain = [("redirect_uri", CALLBACK), ("state", "plain")];
    for (request_uri, extra, error) in [
        (host.url("/other.jwt"), None, "invalid_request_uri"),
        (host.url("/objects/a/b.jwt"), None, "invalid_request_uri"),
        (host.url("/wrong-type.jwt"), None, "invalid_request_uri"),
        (
            host.url("/req.jwt"),
            Some("x.y.z"),
            "invalid_request_object",
        ),
    ] {
        let mut parameters = plain.to_vec();
        parameters.push(("request_uri", &request_uri));
        if let Some(object) = extra {
            parameters.push(("request", object));
        }
        let url = authorize_with(&server, &parameters);
        assert_eq!(
            refused_with(&browser, &server, &url).await.as_deref(),
            Some(error),
            "{request_uri}"
        );
    }
    assert_eq!(
        host.hits("/other.jwt"),
        0,
        "an unregistered URL is never fetched"
    );

    // Unsigned (alg none) only for the client registered for it, and then only unsigned.
    let claims_of = |client: &str, challenge: &str| {
        let mut claims = request_claims(&server, challenge);
        claims["iss"] = json!(client);
        claims["client_id"] = json!(client);
        claims
    };
    let (_, challenge) = pkce_pair();
    let query = |client: &str, object: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("client_id", client);
        query.append_pair("request", object);
        query.append_pair("redirect_uri", CALLBACK);
        server.url(&format!("/authorize?{}", query.finish()))
    };
    let taken = query(
        "unsigned-app",
        &unsigned(&claims_of("unsigned-app", &challenge)),
    );
    let callback = authorize(&browser, &server, &taken, "fay").await;
    assert!(query_param(&callback, "code").is_some(), "{callback}");
    for url in [
        query(
            "unsigned-app",
            &key.sign(&claims_of("unsigned-app", &challenge)),
        ),
        query(APP, &unsigned(&claims_of(APP, &challenge))),
        // Pinned to EdDSA: an ES256 object of its own key is refused.
        query("eddsa-app", &key.sign(&claims_of("eddsa-app", &challenge))),
    ] {
        assert_eq!(
            refused_with(&browser, &server, &url).await.as_deref(),
            Some("invalid_request_object"),
            "{url}"
        );
    }
}
