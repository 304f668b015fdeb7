//! Shared helpers: HTTP calls, client registrations, the CLI, independent token verification.

use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_testkit::TestAuthServer;
use portcullis_types::GrantType;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// An HTTP client that never follows redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A confidential client-credentials registration with scopes `read write` and two audiences.
pub fn service_client(id: &str) -> ClientRegistration {
    ClientRegistration {
        id: id.into(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![],
        scopes: vec!["read".into(), "write".into()],
        audiences: vec!["https://api.example".into(), "orders".into()],
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

/// A client-credentials client whose tokens carry `scope`, for the issuer's own audience.
pub fn automation(id: &str, scope: &str, issuer: &str) -> ClientRegistration {
    ClientRegistration {
        id: id.into(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![],
        scopes: vec![scope.into()],
        audiences: vec![issuer.into()],
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

/// A resource server `https://api.example` that may introspect tokens (RFC 7662).
pub fn resource_server(id: &str) -> ClientRegistration {
    ClientRegistration {
        scopes: vec!["portcullis:introspect".into()],
        audiences: vec!["https://api.example".into()],
        ..service_client(id)
    }
}

/// A public authorization-code client.
pub fn public_client(id: &str) -> ClientRegistration {
    ClientRegistration {
        id: id.into(),
        kind: ClientKind::Public,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        scopes: vec!["read".into()],
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

/// Posts a form to the token endpoint with Basic client authentication.
pub async fn token_with_basic(
    server: &TestAuthServer,
    client_id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(server.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .expect("token request")
}

/// The status of a plain client-credentials request.
pub async fn client_credentials_status(
    server: &TestAuthServer,
    client_id: &str,
    secret: &str,
) -> u16 {
    token_with_basic(
        server,
        client_id,
        secret,
        &[("grant_type", "client_credentials")],
    )
    .await
    .status()
    .as_u16()
}

/// How long a client changed behind a server's back (the CLI against the database, another
/// server without Redis) may still be used from its copy in memory: `auth.client_cache_max_age_ms`.
pub const CLIENT_CACHE_BOUND: std::time::Duration = std::time::Duration::from_secs(1);

/// Polls until `server` answers `client_id`'s client-credentials request with `expected`,
/// failing the test once [`CLIENT_CACHE_BOUND`] has passed since `since` (when the change was
/// made); returns how long it took.
pub async fn client_credentials_status_within_bound(
    server: &TestAuthServer,
    client_id: &str,
    secret: &str,
    expected: u16,
    since: std::time::Instant,
) -> std::time::Duration {
    loop {
        let status = client_credentials_status(server, client_id, secret).await;
        if status == expected {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < CLIENT_CACHE_BOUND,
            "{} still answers {status} for {client_id} after {:?}",
            server.base_url,
            since.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A client-credentials access token for `client_id`, asserting the request succeeds.
pub async fn access_token(server: &TestAuthServer, client_id: &str, secret: &str) -> String {
    let response = token_with_basic(
        server,
        client_id,
        secret,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200, "token request failed");
    let body: Value = response.json().await.expect("json");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A response's status, a header and its JSON body.
pub async fn parts(response: reqwest::Response, header: &str) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get(header)
        .map(|value| value.to_str().expect("ascii header").to_owned());
    let body = response.json().await.expect("JSON body");
    (status, header, body)
}

/// Fetches the served JWKS.
pub async fn jwks(base_url: &str) -> Value {
    http()
        .get(format!("{base_url}/.well-known/jwks.json"))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json")
}

/// The kids in a JWKS document.
pub fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect();
    kids.sort();
    kids
}

/// The `kid` in a token's header, read without verification.
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

/// Verifies access token `token` with the independent `jsonwebtoken` crate (RustCrypto backend)
/// against the served JWKS, checking issuer and audience, and returns the claims.
pub fn verify_independently(
    token: &str,
    jwks: &Value,
    issuer: &str,
    audience: &str,
) -> Result<Value, String> {
    verify_typed(token, "at+jwt", jwks, issuer, audience)
}

/// As [`verify_independently`], for a JWT whose header `typ` must be `typ`.
pub fn verify_typed(
    token: &str,
    typ: &str,
    jwks: &Value,
    issuer: &str,
    audience: &str,
) -> Result<Value, String> {
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some(typ) {
        return Err(format!("typ is {:?}", header.typ));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("kid not in JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// Runs the `portcullis` binary; `stdin` is written to its standard input.
pub fn portcullis(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn portcullis");
    if let Some(mut input) = child.stdin.take() {
        use std::io::Write;
        input.write_all(stdin.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("portcullis output")
}

/// Runs `portcullis admin --data-dir DIR ...` off the async runtime's threads.
pub async fn admin(dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut full = vec![
        "admin".to_owned(),
        "--data-dir".to_owned(),
        dir.display().to_string(),
    ];
    full.extend(args.iter().map(|arg| (*arg).to_owned()));
    let stdin = stdin.to_owned();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = full.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        portcullis(&args, &stdin, &env)
    })
    .await
    .expect("cli task")
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The secret from a `client_secret: ...` line.
pub fn printed_secret(output: &Output) -> String {
    stdout(output)
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .expect("client_secret line")
        .to_owned()
}

/// An upstream that answers every request with `upstream says hi`; its base URL.
pub async fn plain_upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "upstream says hi" });
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

/// Registers `svc` (client credentials, audience `api`) and `gateway` (the revocation feed's
/// reader); returns their secrets.
pub async fn register_api_clients(server: &TestAuthServer) -> (String, String) {
    let mut svc = service_client("svc");
    svc.audiences = vec!["api".into()];
    let svc_secret = server.add_client(svc).await.1.expect("secret");
    let mut feed = service_client("gateway");
    feed.scopes = vec!["portcullis:revocations".into()];
    let feed_secret = server.add_client(feed).await.1.expect("secret");
    (svc_secret, feed_secret)
}

/// A gateway of a Redis cluster in front of `upstream`: `/api` authenticated for `issuer` with
/// audience `api`, `/limited` also limited to `per_minute` requests per client. The feed is
/// polled once a minute and keys are refetched at most once an hour on their own, so what the
/// tests see within seconds came through Redis.
pub fn redis_gateway_config(
    issuer: &str,
    feed_secret: &str,
    upstream: &str,
    per_minute: u32,
    redis: portcullis_redis::RedisSettings,
) -> portcullis_gateway::GatewayConfig {
    use portcullis_gateway::config::{
        IssuerConfig, RateLimitConfig, RevocationFeedConfig, RouteConfig,
    };
    portcullis_gateway::GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        jwks_refetch_min_interval_secs: 3600,
        issuers: vec![IssuerConfig {
            issuer: issuer.to_owned(),
            jwt: true,
            introspection: None,
            jwks_url: None,
            jwks_file: None,
            audience: Some("api".into()),
            revocation_feed: Some(RevocationFeedConfig {
                client_id: "gateway".into(),
                client_secret: feed_secret.to_owned(),
                poll_interval_ms: 60_000,
            }),
        }],
        routes: vec![
            RouteConfig::new("api", "/api", upstream),
            RouteConfig {
                rate_limit: Some(RateLimitConfig {
                    requests: per_minute,
                    per_secs: 60,
                    burst: None,
                    key: "client".into(),
                }),
                ..RouteConfig::new("limited", "/limited", upstream)
            },
        ],
        redis: Some(redis),
        ..portcullis_gateway::GatewayConfig::default()
    }
}

/// The first-party web client `web` that `POST /login` issues tokens to in the tests.
pub fn web_client() -> ClientRegistration {
    ClientRegistration {
        id: "web".into(),
        kind: ClientKind::Public,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec![super::browser::CALLBACK.into()],
        scopes: vec!["openid".into()],
        audiences: vec!["https://api.example".into()],
        access_token_lifetime_secs: None,
        first_party: true,
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

/// What the resource server `rs` (see [`resource_server`]) learns by introspecting `token`.
pub async fn introspect(server: &TestAuthServer, secret: &str, token: &str) -> Value {
    http()
        .post(server.url("/introspect"))
        .basic_auth("rs", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspect")
        .json()
        .await
        .expect("json")
}

/// The first `<scheme>://...` word a child process prints on its first line (the address it
/// listens on).
pub fn printed_url(child: &mut std::process::Child, scheme: &str) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    line.split_whitespace()
        .find(|word| word.starts_with(&format!("{scheme}://")))
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_owned()
}

/// The claims of a compact JWT, unverified (a test reads what the server wrote).
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&portcullis_jose::base64url::decode(payload).expect("base64url"))
        .expect("json")
}

/// The server's OpenID Connect discovery document.
pub async fn discovery(server: &TestAuthServer) -> Value {
    http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json")
}

/// The audit records of `kind` so far (after the audit log's writer caught up), as JSON text.
pub async fn audit_details(server: &TestAuthServer, kind: &str) -> Vec<String> {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server
        .state
        .store
        .search_audit(&portcullis_service::AuditQuery {
            limit: 200,
            ..portcullis_service::AuditQuery::default()
        })
        .await
        .expect("audit")
        .into_iter()
        .filter(|record| record.kind == kind)
        .map(|record| record.detail)
        .collect()
}

/// The audit records the server stored, newest first, once its pending events are written.
pub async fn audit_records(server: &TestAuthServer) -> Vec<portcullis_core::AuditRecord> {
    server.state.audit.flush().await;
    let query = portcullis_service::AuditQuery {
        limit: 200,
        ..portcullis_service::AuditQuery::default()
    };
    server
        .state
        .store
        .search_audit(&query)
        .await
        .expect("audit")
}

/// The query of an authorization request of `client_id` for `scope` with PKCE `challenge`, back
/// to `redirect_uri` with state `s`.
pub fn pkce_authorize_query(
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &str,
) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scope)
        .append_pair("state", "s")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .finish()
}

/// The consent page `browser` reaches at the authorization request `query` once `username`
/// signed in with the demo password.
pub async fn consent_page(
    browser: &portcullis_testkit::browser::Browser,
    server: &TestAuthServer,
    query: &str,
    username: &str,
) -> String {
    let (status, consent) = browser
        .open_signed_in(
            &server.base_url,
            &server.url(&format!("/authorize?{query}")),
            (username, super::browser::PASSWORD),
        )
        .await;
    assert_eq!(status, 200, "{consent}");
    consent
}

/// Allows the consent page `consent` and returns the code its client gets.
pub async fn allow(
    browser: &portcullis_testkit::browser::Browser,
    server: &TestAuthServer,
    consent: &str,
) -> String {
    use portcullis_testkit::browser::{hidden_fields, location, query_param};
    let mut fields = hidden_fields(consent);
    fields.push(("decision".into(), "allow".into()));
    let allowed = browser.post(&server.url("/authorize"), &fields).await;
    let callback = location(&allowed, &server.base_url);
    query_param(&callback, "code").expect("code")
}
