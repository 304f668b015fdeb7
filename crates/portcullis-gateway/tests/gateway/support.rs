//! The test stack: auth server, echo upstream, gateway.

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::HeaderMap;
use portcullis_core::{ClientKind, ClientRegistration};
use portcullis_gateway::config::{
    IssuerConfig, RateLimitConfig, RevocationFeedConfig, RouteConfig,
};
use portcullis_gateway::{GatewayConfig, RunningGateway};
use portcullis_testkit::{TestAuthServer, TestOptions};
use portcullis_types::GrantType;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

/// Starts an upstream that answers every request with what it received, and `/slow` after 2 s.
pub async fn echo_upstream() -> SocketAddr {
    async fn echo(headers: HeaderMap, mut request: Request) -> axum::response::Response {
        use axum::response::IntoResponse;
        if let Some(protocol) = headers.get("upgrade").cloned() {
            // Switch protocols, then echo every byte back.
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                if let Ok(upgraded) = upgrade.await {
                    let (mut reader, mut writer) =
                        tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
                    let _ = tokio::io::copy(&mut reader, &mut writer).await;
                }
            });
            return (
                axum::http::StatusCode::SWITCHING_PROTOCOLS,
                [
                    (
                        "connection",
                        axum::http::HeaderValue::from_static("upgrade"),
                    ),
                    ("upgrade", protocol),
                ],
            )
                .into_response();
        }
        echo_json(headers, request).await.into_response()
    }
    async fn echo_json(headers: HeaderMap, request: Request) -> axum::Json<Value> {
        let method = request.method().to_string();
        let uri = request.uri().clone();
        if uri.path().ends_with("/slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let body: Bytes = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    Value::String(value.to_str().unwrap_or("<binary>").to_owned()),
                )
            })
            .collect();
        axum::Json(
            json!({"method": method, "path": uri.path(), "query": uri.query(), "headers": headers, "body_len": body.len()}),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(echo)).await;
    });
    address
}

/// Starts an HTTP/1.1 upstream over TLS with `certificate` that answers every request with its
/// path and whether the gateway presented a client certificate, which it verifies against
/// `client_ca` (required when `require_client_certificate`).
pub async fn tls_upstream(
    certificate: &portcullis_testkit::pki::IssuedCertificate,
    client_ca: Option<&std::path::Path>,
    require_client_certificate: bool,
) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&certificate.cert_file)
        .expect("certificate")
        .collect::<Result<_, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(&certificate.key_file).expect("key");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let config = match client_ca {
        Some(client_ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(client_ca).expect("CA") {
                roots.add(ca.expect("CA")).expect("CA");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if require_client_certificate {
                verifier.build()
            } else {
                verifier.allow_unauthenticated().build()
            };
            builder.with_client_cert_verifier(verifier.expect("verifier"))
        }
        None => builder.with_no_client_auth(),
    }
    .with_single_cert(chain, key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let presented = stream.get_ref().1.peer_certificates().is_some();
                let service =
                    hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                        let body =
                            json!({"path": request.uri().path(), "client_certificate": presented});
                        async move {
                            Ok::<_, std::convert::Infallible>(axum::http::Response::new(
                                http_body_util::Full::new(Bytes::from(body.to_string())),
                            ))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

/// A route to `upstream` with defaults.
pub fn route(name: &str, prefix: &str, upstream: SocketAddr) -> RouteConfig {
    RouteConfig {
        connect_timeout_ms: 500,
        timeout_ms: 5_000,
        max_body_bytes: 32 * 1024 * 1024,
        ..RouteConfig::new(name, prefix, &format!("http://{upstream}"))
    }
}

/// A rate limit.
pub fn rate_limit(requests: u32, key: &str) -> RateLimitConfig {
    RateLimitConfig {
        requests,
        per_secs: 60,
        burst: None,
        key: key.into(),
    }
}

/// The whole stack.
pub struct Stack {
    /// The auth server.
    pub auth: TestAuthServer,
    /// The echo upstream.
    pub upstream: SocketAddr,
    /// The gateway.
    pub gateway: Option<RunningGateway>,
    /// `http://<gateway>`
    pub base: String,
    /// The service client's secret.
    pub secret: String,
    /// Stops the gateway when sent (or dropped).
    pub stop: Option<oneshot::Sender<()>>,
    /// A client of the auth server (trusting its CA when it speaks TLS).
    pub http: reqwest::Client,
}

/// A confidential client `svc` (scopes `read write`, audience `api`) plus the feed reader.
pub fn service_client(id: &str, scopes: &[&str]) -> ClientRegistration {
    ClientRegistration {
        id: id.into(),
        kind: ClientKind::Confidential,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![],
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
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
}

/// Starts the stack; `adjust` edits the gateway configuration before it starts.
pub async fn stack(
    auth_options: TestOptions,
    adjust: impl FnOnce(&mut GatewayConfig, SocketAddr),
) -> Stack {
    let mut http = reqwest::Client::builder();
    if let Some(tls) = &auth_options.tls {
        http = http
            .tls_certs_only([reqwest::Certificate::from_pem(tls.ca_pem.as_bytes()).expect("CA")]);
    }
    let http = http.build().expect("client");
    let auth = TestAuthServer::start_with(auth_options).await;
    let (_, secret) = auth
        .add_client(service_client("svc", &["read", "write"]))
        .await;
    let (_, feed_secret) = auth
        .add_client(service_client("gateway", &["portcullis:revocations"]))
        .await;
    let upstream = echo_upstream().await;
    let mut config = GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        jwks_refetch_min_interval_secs: 0,
        issuers: vec![IssuerConfig {
            issuer: auth.base_url.clone(),
            jwt: true,
            introspection: None,
            jwks_url: None,
            jwks_file: None,
            audience: Some("api".into()),
            revocation_feed: Some(RevocationFeedConfig {
                client_id: "gateway".into(),
                client_secret: feed_secret.expect("secret"),
                poll_interval_ms: 200,
            }),
        }],
        routes: vec![route("api", "/api", upstream)],
        ..GatewayConfig::default()
    };
    adjust(&mut config, upstream);
    let (stop, stopped) = oneshot::channel::<()>();
    let gateway = portcullis_gateway::start(&config, async move {
        let _ = stopped.await;
    })
    .await
    .expect("gateway starts");
    let base = format!("http://{}", gateway.address);
    Stack {
        auth,
        upstream,
        gateway: Some(gateway),
        base,
        secret: secret.expect("secret"),
        stop: Some(stop),
        http,
    }
}

impl Stack {
    /// A client-credentials token for `svc`.
    pub async fn token(&self, scope: Option<&str>) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response: Value = self
            .http
            .post(self.auth.url("/token"))
            .basic_auth("svc", Some(&self.secret))
            .form(&form)
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        response["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// `GET <gateway><path>` with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("gateway request")
    }

    /// The gateway's Prometheus metrics.
    pub async fn metrics(&self) -> String {
        let admin = self.gateway.as_ref().expect("gateway").admin_address;
        reqwest::get(format!("http://{admin}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Stops the gateway.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(gateway) = self.gateway.take() {
            gateway.finished().await.expect("clean stop");
        }
    }
}

/// The `WWW-Authenticate` header.
pub fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

/// Revokes `token` at `auth` as the client `client` (RFC 7009), expecting 200.
pub async fn revoke(auth: &TestAuthServer, client: &str, secret: &str, token: &str) {
    let revoked = reqwest::Client::new()
        .post(auth.url("/revoke"))
        .basic_auth(client, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
}

/// The nginx recipe's `auth_request` subrequest location (`/_portcullis_auth`): asks the
/// forward-auth listener at `forward_auth` about the original request.
pub fn nginx_auth_subrequest(forward_auth: SocketAddr) -> String {
    format!(
        r#"
    location = /_portcullis_auth {{
      internal;
      proxy_pass http://{forward_auth}/_portcullis/auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
"#
    )
}
