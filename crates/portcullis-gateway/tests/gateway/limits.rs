//! Connection-level defences: slow headers are cut off, and connections beyond the cap are closed.

use super::support::stack;
use portcullis_testkit::TestOptions;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes; returns what arrived, or `None` if still open after `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(received),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.header_read_timeout_ms = 300
    })
    .await;
    let address = stack.gateway.as_ref().expect("gateway").address;
    let mut slow = TcpStream::connect(address).await.expect("connect");
    slow.write_all(b"GET /api/x HTTP/1.1\r\nHost: gateway\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let closed = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the connection must be closed");
    assert!(started.elapsed() < Duration::from_secs(2));
    let answered = String::from_utf8_lossy(closed.as_deref().unwrap_or_default()).to_string();
    assert!(
        answered.is_empty() || answered.starts_with("HTTP/1.1 408"),
        "{answered}"
    );
    assert_eq!(
        stack.get("/api/x", None).await.status(),
        401,
        "others are still served"
    );
    // Silence, or half the HTTP/2 preface then silence, is cut off the same way.
    for opening in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut silent = TcpStream::connect(address).await.expect("connect");
        silent.write_all(opening).await.expect("write");
        let started = Instant::now();
        assert!(
            read_until_closed(&mut silent, Duration::from_secs(3))
                .await
                .is_some(),
            "{opening:?}: the connection must be closed"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{opening:?}");
    }
    stack.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.max_connections = 2
    })
    .await;
    let address = stack.gateway.as_ref().expect("gateway").address;
    let first = TcpStream::connect(address).await.expect("connect");
    let _second = TcpStream::connect(address).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(address).await.expect("connect");
    let _ = third
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut third, Duration::from_secs(2)).await;
    assert_eq!(
        answer.as_deref(),
        Some(&b""[..]),
        "closed without an answer"
    );
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(address).await.expect("connect");
    fourth
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut fourth, Duration::from_secs(2))
        .await
        .expect("answered and closed");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401"),
        "a freed slot is usable again"
    );
    stack.stop().await;
}

/// Sends a raw HTTP/1.1 request and reads the response head.
async fn raw_head(address: std::net::SocketAddr, request: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(
            read,
            1,
            "connection closed early: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    (stream, String::from_utf8_lossy(&head).to_ascii_lowercase())
}

#[tokio::test]
async fn protocol_upgrades_pass_only_where_the_route_allows_them() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut socket = super::support::route("socket", "/socket", upstream);
        socket.auth = "public".into();
        socket.upgrades = vec!["echo-protocol".into()];
        config.routes.push(socket);
        let mut plain = super::support::route("plain", "/plain", upstream);
        plain.auth = "public".into();
        config.routes.push(plain);
    })
    .await;
    let address = stack.gateway.as_ref().expect("gateway").address;
    let upgrade = |path: &str, protocol: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: {protocol}\r\n\r\n"
        )
    };
    let (mut stream, head) = raw_head(address, &upgrade("/socket", "echo-protocol")).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo-protocol"), "{head}");
    stream
        .write_all(b"ping through the gateway")
        .await
        .expect("write");
    let mut echoed = vec![0u8; 24];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut echoed))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&echoed, b"ping through the gateway");
    // WebSocket passes by default.
    let (_, head) = raw_head(address, &upgrade("/plain", "websocket")).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    // h2c (and any other protocol the route does not name) is not a tunnel: the request goes
    // through as an ordinary one, without the upgrade headers.
    for (path, protocol) in [
        ("/plain", "h2c"),
        ("/socket", "websocket"),
        ("/plain", "websocket, h2c"),
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: {protocol}\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
        );
        let (_, head) = raw_head(address, &request).await;
        assert!(
            head.starts_with("http/1.1 200"),
            "{protocol} on {path}: {head}"
        );
        assert!(!head.contains("upgrade:"), "{head}");
    }
    let echoed: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/plain/x", stack.base))
        .header("connection", "upgrade")
        .header("upgrade", "h2c")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("the upstream answered as to a plain request");
    let headers = echoed["headers"].as_object().expect("headers");
    assert!(headers.get("upgrade").is_none() && headers.get("http2-settings").is_none());
    stack.stop().await;
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_and_free_their_slots() {
    let pki = portcullis_testkit::pki::TestPki::new("gateway");
    let certificate = pki.server("gateway");
    let cert_pem = certificate.ca_pem.clone();
    for tls in [false, true] {
        let (cert_file, key_file) = (certificate.cert_file.clone(), certificate.key_file.clone());
        let stack = stack(TestOptions::default(), move |config, _| {
            config.max_connections = 3;
            config.http2_idle_timeout_ms = 400;
            config.header_read_timeout_ms = 400;
            if tls {
                config.tls_cert_file = Some(cert_file);
                config.tls_key_file = Some(key_file);
            }
        })
        .await;
        let address = stack.gateway.as_ref().expect("gateway").address;
        const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        // An empty SETTINGS frame completes the client's side of the handshake.
        const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
        let mut silent: Vec<Box<dyn Idle>> = Vec::new();
        if tls {
            // TLS with ALPN h2, then nothing; then the preface alone; then a whole handshake.
            for opening in [&b""[..], PREFACE, &[PREFACE, SETTINGS].concat()] {
                let mut stream = tls_h2(address, &cert_pem).await;
                stream.write_all(opening).await.expect("write");
                silent.push(Box::new(stream));
            }
        } else {
            for opening in [PREFACE.to_vec(), [PREFACE, SETTINGS].concat()] {
                let mut stream = TcpStream::connect(address).await.expect("connect");
                stream.write_all(&opening).await.expect("write");
                silent.push(Box::new(stream));
            }
            // An HTTP/1.1 keep-alive connection after its first request.
            let (stream, head) =
                raw_head(address, "GET /api/x HTTP/1.1\r\nHost: gateway\r\n\r\n").await;
            assert!(head.starts_with("http/1.1 401"), "{head}");
            silent.push(Box::new(stream));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut refused = TcpStream::connect(address).await.expect("connect");
        assert_eq!(
            read_until_closed(&mut refused, Duration::from_secs(2))
                .await
                .as_deref(),
            Some(&b""[..]),
            "tls={tls}: every slot is taken"
        );
        for (index, connection) in silent.iter_mut().enumerate() {
            assert!(
                connection.closed_within(Duration::from_secs(3)).await,
                "tls={tls}: silent connection {index} must be closed"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if tls {
            let mut fresh = tls_h2(address, &cert_pem).await;
            fresh
                .write_all(PREFACE)
                .await
                .expect("a slot is free again");
        } else {
            assert_eq!(
                stack.get("/api/x", None).await.status(),
                401,
                "a new client is served"
            );
        }
        stack.stop().await;
    }
}

/// A connection the test holds silent.
#[async_trait::async_trait]
trait Idle: Send {
    /// Whether the gateway closes it within `wait` (reading and discarding what it sends).
    async fn closed_within(&mut self, wait: Duration) -> bool;
}

#[async_trait::async_trait]
impl<S: tokio::io::AsyncRead + Unpin + Send> Idle for S {
    async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut buffer = [0u8; 1024];
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            match tokio::time::timeout(left, self.read(&mut buffer)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// A TLS connection that negotiated `h2` by ALPN, trusting `cert_pem`.
async fn tls_h2(
    address: std::net::SocketAddr,
    cert_pem: &str,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("pem"))
        .expect("root");
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = TcpStream::connect(address).await.expect("connect");
    let stream = connector
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    stream
}

#[tokio::test]
async fn tls_termination_negotiates_http2_and_plain_listeners_speak_h2c() {
    let dir = tempfile::tempdir().expect("dir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_pem = certified.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("write");
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .expect("write");
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    let stack = stack(TestOptions::default(), move |config, upstream| {
        config.tls_cert_file = Some(cert_file);
        config.tls_key_file = Some(key_file);
        let mut public = super::support::route("public", "/public", upstream);
        public.auth = "public".into();
        config.routes.push(public);
    })
    .await;
    let port = stack.gateway.as_ref().expect("gateway").address.port();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("root"))
        .resolve(
            "localhost",
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
        .build()
        .expect("client");
    let response = client
        .get(format!("https://localhost:{port}/public/x"))
        .send()
        .await
        .expect("https request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "ALPN negotiates HTTP/2"
    );
    let token = stack.token(None).await;
    let authenticated = client
        .get(format!("https://localhost:{port}/api/x"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("https request");
    assert_eq!(authenticated.status(), 200);
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/public/x"))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|response| !response.status().is_success()),
        "plain HTTP is not served on a TLS listener"
    );
    stack.stop().await;

    let plain_stack = stack_without_tls().await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let response = h2c
        .get(format!("{}/api/x", plain_stack.base))
        .send()
        .await
        .expect("h2c request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        response.status(),
        401,
        "HTTP/2 requests go through the same pipeline"
    );
    plain_stack.stop().await;
}

async fn stack_without_tls() -> super::support::Stack {
    stack(TestOptions::default(), |_, _| {}).await
}

#[tokio::test]
async fn half_a_tls_configuration_refuses_to_start() {
    let config = portcullis_gateway::GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        tls_cert_file: Some("/nonexistent/cert.pem".into()),
        ..portcullis_gateway::GatewayConfig::default()
    };
    let error = portcullis_gateway::start(&config, std::future::pending())
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("tls_key_file"), "{error}");
    let missing = portcullis_gateway::GatewayConfig {
        tls_key_file: Some("/nonexistent/key.pem".into()),
        ..config
    };
    let error = portcullis_gateway::start(&missing, std::future::pending())
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("/nonexistent/cert.pem"),
        "{error}"
    );
}

#[tokio::test]
async fn an_issuer_without_an_audience_or_a_bad_proxy_range_refuses_to_start() {
    let issuer = |audience: Option<&str>| portcullis_gateway::config::IssuerConfig {
        issuer: "http://127.0.0.1:9".into(),
        jwt: true,
        introspection: None,
        jwks_url: None,
        jwks_file: None,
        audience: audience.map(str::to_owned),
        revocation_feed: None,
    };
    for audience in [None, Some("")] {
        let config = portcullis_gateway::GatewayConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            admin_listen: "127.0.0.1:0".parse().expect("addr"),
            issuers: vec![issuer(audience)],
            ..portcullis_gateway::GatewayConfig::default()
        };
        let error = portcullis_gateway::start(&config, std::future::pending())
            .await
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("audience is required")
                && error.to_string().contains("RFC 9068"),
            "{error}"
        );
    }
    let config = portcullis_gateway::GatewayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        trusted_proxies: vec!["10.0.0.0/40".into()],
        ..portcullis_gateway::GatewayConfig::default()
    };
    let error = portcullis_gateway::start(&config, std::future::pending())
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("10.0.0.0/40"), "{error}");
}
