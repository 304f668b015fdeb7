//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-02) end to end: a
//! client whose id is the URL of its document signs a user in with PKCE, with no registration;
//! the consent page names the host serving the document and warns of a loopback redirect; the
//! document is fetched once while its `Cache-Control` allows. Documents that cannot be used
//! (oversize, slow, not JSON, naming another id, holding a secret, redirected, redirect URI not
//! listed) abort the request and are fetched again next time; plain http and private addresses
//! are never fetched unless the server is set up for one machine.

use super::browser::PASSWORD;
use super::support::{allow, audit_records, consent_page, discovery, http, pkce_authorize_query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use portcullis_core::TrustedProxies;
use portcullis_core::client_metadata::DynamicRegistrationPolicy;
use portcullis_testkit::browser::{Browser, pkce_pair};
use portcullis_testkit::{TestAuthServer, TestOptions};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CALLBACK: &str = "http://127.0.0.1:43111/callback";
const AUDIENCE: &str = "https://mcp.example/mcp";

/// A web server publishing client metadata documents, counting the requests for each path.
struct DocumentHost {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl DocumentHost {
    async fn start() -> DocumentHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let (served_base, counted) = (base.clone(), hits.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (base, hits) = (served_base.clone(), counted.clone());
            async move {
                let path = uri.path().to_owned();
                *hits.lock().expect("hits").entry(path.clone()).or_default() += 1;
                serve(&base, &path).await
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        DocumentHost { base, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("hits")
            .get(path)
            .copied()
            .unwrap_or_default()
    }

    fn total_hits(&self) -> usize {
        self.hits.lock().expect("hits").values().sum()
    }
}

fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Agent",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
}

fn json_answer(body: &Value, cache_control: Option<&'static str>) -> axum::response::Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = cache_control {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    (headers, body.to_string()).into_response()
}

async fn serve(base: &str, path: &str) -> axum::response::Response {
    let own = format!("{base}{path}");
    match path {
        "/agent.json" => json_answer(&document(&own), Some("public, max-age=3600")),
        "/big.json" => {
            let mut big = document(&own);
            big["client_name"] = Value::from("x".repeat(6 * 1024));
            json_answer(&big, None)
        }
        "/slow.json" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            json_answer(&document(&own), None)
        }
        "/not-json.json" => (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"client_id\": not json",
        )
            .into_response(),
        "/other-id.json" => json_answer(&document(&format!("{base}/agent.json")), None),
        "/secret.json" => {
            let mut secret = document(&own);
            secret["client_secret"] = Value::from("s3cret");
            json_answer(&secret, None)
        }
        "/moved.json" => (
            StatusCode::FOUND,
            [(header::LOCATION, format!("{base}/agent.json"))],
        )
            .into_response(),
        "/html.json" => (
            [(header::CONTENT_TYPE, "text/html")],
            document(&own).to_string(),
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn server(metadata_documents: bool, outbound_private_networks: bool) -> TestAuthServer {
    server_with(
        DynamicRegistrationPolicy {
            audiences: vec![AUDIENCE.into()],
            metadata_documents,
            ..DynamicRegistrationPolicy::default()
        },
        outbound_private_networks,
    )
    .await
}

/// A server behind a trusted proxy on loopback, so each test request can come from its own
/// address (`X-Forwarded-For`), as the per-network fetch counters see it.
async fn server_with(
    policy: DynamicRegistrationPolicy,
    outbound_private_networks: bool,
) -> TestAuthServer {
    let server = TestAuthServer::start_with(TestOptions {
        client_registration: policy,
        outbound_private_networks,
        trusted_proxies: TrustedProxies::parse(&["127.0.0.1"]).expect("proxies"),
        ..TestOptions::default()
    })
    .await;
    server.add_user("erin", &["user"], PASSWORD).await;
    server
}

fn authorize_query(client_id: &str, redirect_uri: &str, challenge: &str) -> String {
    pkce_authorize_query(client_id, redirect_uri, "openid offline_access", challenge)
}

/// The page `/authorize` answers for `client_id`, without signing in, to a request from `from`.
async fn authorize_page(server: &TestAuthServer, client_id: &str, from: &str) -> (u16, String) {
    let (_, challenge) = pkce_pair();
    let response = http()
        .get(server.url(&format!(
            "/authorize?{}",
            authorize_query(client_id, CALLBACK, &challenge)
        )))
        .header("x-forwarded-for", from)
        .send()
        .await
        .expect("authorize");
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

async fn token(server: &TestAuthServer, form: &[(&str, &str)], from: &str) -> (u16, Value) {
    let response = http()
        .post(server.url("/token"))
        .header("x-forwarded-for", from)
        .form(form)
        .send()
        .await
        .expect("token");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_known_by_its_metadata_document_signs_a_user_in() {
    let host = DocumentHost::start().await;
    let server = server(true, true).await;
    assert_eq!(
        discovery(&server).await["client_id_metadata_document_supported"],
        true
    );
    let client_id = host.url("/agent.json");

    let (verifier, challenge) = pkce_pair();
    let query = authorize_query(&client_id, CALLBACK, &challenge);
    let browser = Browser::new();
    let consent = consent_page(&browser, &server, &query, "erin").await;
    let document_host = client_id
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host");
    assert!(
        consent.contains(&format!(
            "{document_host} (an application calling itself “Agent”)"
        )),
        "the consent page names the host serving the document: {consent}"
    );
    assert!(
        consent.contains("a program on this computer (127.0.0.1:43111)"),
        "and warns of a loopback redirect: {consent}"
    );
    let code = allow(&browser, &server, &consent).await;

    let (status, tokens) = token(
        &server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
        "198.51.100.1",
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = super::support::claims_of(tokens["access_token"].as_str().expect("access"));
    assert_eq!(claims["client_id"], client_id.as_str());
    assert!(
        claims["aud"]
            .as_array()
            .is_some_and(|aud| aud.contains(&Value::from(AUDIENCE))),
        "the policy's audience: {claims}"
    );
    let refresh_token = tokens["refresh_token"].as_str().expect("refresh token");
    let (status, refreshed) = token(
        &server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &client_id),
        ],
        "198.51.100.1",
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_ne!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "a public client's refresh token rotates"
    );

    // max-age=3600: sign-in, consent, code and refresh all used the one copy.
    assert_eq!(host.hits("/agent.json"), 1);
    let kept = server
        .state
        .store
        .find_client(&client_id)
        .await
        .expect("store")
        .expect("kept");
    let now = server.state.clock.now();
    assert!(
        kept.metadata_document_expires_at
            .is_some_and(|at| at > now + 3000 && at <= now + 3600),
        "{kept:?}"
    );
    assert!(audit_records(&server).await.iter().any(|record| {
        record.kind == "client_metadata_document_fetched"
            && record.client_id.as_deref() == Some(client_id.as_str())
    }));

    // A redirect URI the document does not list is refused on the page, never redirected to
    // (draft §4.2: exact match against the document's redirect_uris).
    let (_, challenge) = pkce_pair();
    let elsewhere = browser
        .get(&server.url(&format!(
            "/authorize?{}",
            authorize_query(&client_id, "http://127.0.0.1:43111/elsewhere", &challenge)
        )))
        .await;
    assert!(elsewhere.headers().get("location").is_none());
    let status = elsewhere.status();
    let page = elsewhere.text().await.expect("page");
    assert_eq!(status, 400, "{page}");
}

/// The reasons audited for refusing `client_id`'s document.
async fn refusals_of(server: &TestAuthServer, client_id: &str) -> Vec<String> {
    audit_records(server)
        .await
        .into_iter()
        .filter(|record| {
            record.kind == "client_metadata_document_refused"
                && record.client_id.as_deref() == Some(client_id)
        })
        .map(|record| record.detail)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_documents_that_cannot_be_used_abort_the_request() {
    let host = DocumentHost::start().await;
    let server = server(true, true).await;
    for (case, (path, reason)) in [
        ("/big.json", "larger than 5120 bytes"),
        ("/slow.json", "timed out"),
        ("/not-json.json", "not a JSON object of client metadata"),
        (
            "/other-id.json",
            "client_id is not the URL it was fetched from",
        ),
        ("/secret.json", "must not hold client_secret"),
        ("/moved.json", "answered 302"),
        ("/html.json", "a type other than JSON"),
        ("/missing.json", "answered 404"),
    ]
    .into_iter()
    .enumerate()
    {
        let from = format!("198.51.100.{}", case + 10);
        let client_id = host.url(path);
        let (status, page) = authorize_page(&server, &client_id, &from).await;
        assert_eq!(status, 400, "{path}: {page}");
        // The page names the host only: the reason (network details, the document's own
        // text) is for the audit log.
        assert!(
            page.contains("metadata document at 127.0.0.1:") && !page.contains(reason),
            "{path}: {page}"
        );
        // The token endpoint refuses it as an unknown client would be.
        let (status, answer) = token(
            &server,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", CALLBACK),
                ("client_id", &client_id),
                ("code_verifier", "x"),
            ],
            &from,
        )
        .await;
        assert_eq!((status, &answer["error"]), (401, &json!("invalid_client")));
        // Draft §5.2: a refused document is never kept: each request fetched it again.
        assert_eq!(host.hits(path), 2, "{path}");
        assert!(
            server
                .state
                .store
                .find_client(&client_id)
                .await
                .expect("store")
                .is_none()
        );
        let refusals = refusals_of(&server, &client_id).await;
        assert_eq!(refusals.len(), 2, "{path}: {refusals:?}");
        assert!(
            refusals.iter().all(|detail| detail.contains(reason)),
            "{path}: {refusals:?}"
        );
    }
    assert!(
        host.hits("/agent.json") == 0,
        "the redirect of /moved.json was not followed"
    );

    // Each network makes the server fetch a few documents per window, then no more (and its
    // refusals are not audited: the log cannot be flooded either).
    let allowed = server.state.settings.sign_in.throttle.lock_after as usize;
    let mut fetched = 0;
    for attempt in 0..allowed + 3 {
        let client_id = host.url(&format!("/flood-{attempt}.json"));
        let (status, page) = authorize_page(&server, &client_id, "203.0.113.9").await;
        assert_eq!(status, 400, "{page}");
        fetched += host.hits(&format!("/flood-{attempt}.json"));
    }
    assert_eq!(fetched, allowed, "so many fetches per network and window");
    let last = host.url(&format!("/flood-{}.json", allowed + 2));
    assert!(refusals_of(&server, &last).await.is_empty());
    // Another network is not held back.
    let (_, _) = authorize_page(&server, &host.url("/other-network.json"), "203.0.113.99").await;
    assert_eq!(host.hits("/other-network.json"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_come_only_from_allowed_hosts_and_never_from_the_server_itself() {
    let host = DocumentHost::start().await;
    let allow_listed = server_with(
        DynamicRegistrationPolicy {
            metadata_documents: true,
            metadata_document_hosts: vec!["*.agents.example".into()],
            ..DynamicRegistrationPolicy::default()
        },
        true,
    )
    .await;
    let client_id = host.url("/agent.json");
    let (status, _) = authorize_page(&allow_listed, &client_id, "198.51.100.7").await;
    assert_eq!(status, 400);
    assert!(refusals_of(&allow_listed, &client_id).await[0].contains("not among those"));

    let open = server(true, true).await;
    let own = open.url("/.well-known/openid-configuration");
    let (status, _) = authorize_page(&open, &own, "198.51.100.7").await;
    assert_eq!(status, 400);
    assert!(refusals_of(&open, &own).await[0].contains("this server's own host"));
    assert_eq!(host.total_hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_and_plain_http_are_never_fetched() {
    let host = DocumentHost::start().await;
    let guarded = server(true, false).await;
    let port = host.base.rsplit(':').next().expect("port");
    // Plain http is not a client id URL at all: an unknown client.
    let (status, page) = authorize_page(&guarded, &host.url("/agent.json"), "198.51.100.7").await;
    assert_eq!(status, 400);
    assert!(page.contains("not registered"), "{page}");
    // https to a loopback address, written or resolved: refused before connecting.
    for client_id in [
        format!("https://127.0.0.1:{port}/agent.json"),
        format!("https://10.0.0.1:{port}/agent.json"),
        format!("https://localhost:{port}/agent.json"),
        format!("https://[::1]:{port}/agent.json"),
    ] {
        let (status, page) = authorize_page(&guarded, &client_id, "198.51.100.7").await;
        assert_eq!(status, 400, "{client_id}: {page}");
        assert!(page.contains("cannot be used"), "{client_id}: {page}");
        // The issuer is on 127.0.0.1 too: that one is also refused as the server's own host.
        let reason = &refusals_of(&guarded, &client_id).await[0];
        assert!(
            reason.contains("public address") || reason.contains("own host"),
            "{client_id}: {reason}"
        );
    }
    assert_eq!(host.total_hits(), 0);

    // Off (the default): a URL is an unknown client id, and discovery says nothing of it.
    let off = server(false, true).await;
    assert!(
        discovery(&off)
            .await
            .get("client_id_metadata_document_supported")
            .is_none()
    );
    let (status, page) = authorize_page(&off, &host.url("/agent.json"), "198.51.100.7").await;
    assert_eq!(status, 400);
    assert!(page.contains("not registered"), "{page}");
    assert_eq!(host.total_hits(), 0);
}
