//! What reaches the upstream, and what comes back: trusted identity headers only, forwarding
//! headers, request ids, rate limits, upstream failures, large bodies, reloads.

use super::support::{rate_limit, route, stack};
use portcullis_testkit::TestOptions;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut public = route("public", "/public", upstream);
        public.auth = "public".into();
        config.routes.push(public);
    })
    .await;
    let token = stack.token(Some("read")).await;
    for (path, token) in [
        ("/api/echo?q=1", Some(token.as_str())),
        ("/public/echo", None),
    ] {
        let mut request = reqwest::Client::new()
            .get(format!("{}{path}", stack.base))
            .header("X-Portcullis-Subject", "admin")
            .header("x-portcullis-roles", "admin")
            .header("X-Portcullis-Injected", "yes")
            .header("X-User-Id", "admin")
            .header("X-Forwarded-User", "admin")
            // Read as X-Portcullis-Subject / X-User-Id by CGI, WSGI, Rack and PHP backends.
            .header("X_Portcullis_Subject", "admin")
            .header("x-portcullis_roles", "admin")
            .header("X_User_Id", "admin")
            .header("x_forwarded_user", "admin")
            .header("X_Custom_Trace", "dropped like nginx does")
            .header("X-Forwarded-For", "10.9.9.9")
            .header("X-Request-Id", "trace-1");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["x-request-id"], "trace-1");
        let echoed: Value = response.json().await.expect("json");
        let headers = echoed["headers"].as_object().expect("headers");
        assert!(
            headers.get("x-user-id").is_none() && headers.get("x-forwarded-user").is_none(),
            "{path}"
        );
        assert!(headers.get("x-portcullis-injected").is_none(), "{path}");
        let underscored: Vec<&String> = headers.keys().filter(|name| name.contains('_')).collect();
        assert!(underscored.is_empty(), "{path}: {underscored:?}");
        assert_eq!(
            headers["x-forwarded-for"], "127.0.0.1",
            "untrusted chains are replaced"
        );
        assert_eq!(headers["x-request-id"], "trace-1");
        assert!(
            headers["forwarded"]
                .as_str()
                .is_some_and(|value| value.starts_with("for=127.0.0.1;proto=http"))
        );
        if token.is_some() {
            assert_eq!(
                headers["x-portcullis-subject"], "svc",
                "the token's subject, not the forged one"
            );
            assert_eq!(headers["x-portcullis-client"], "svc");
            assert_eq!(headers["x-portcullis-scopes"], "read");
            assert_eq!(headers["x-portcullis-roles"], "");
            assert!(
                headers["authorization"]
                    .as_str()
                    .is_some_and(|value| value.starts_with("Bearer ")),
                "kept for the backend"
            );
            assert_eq!(echoed["query"], "q=1");
        } else {
            assert!(
                headers.get("x-portcullis-subject").is_none()
                    && headers.get("x-portcullis-roles").is_none()
            );
        }
    }
    // Generated ids: 16 base64url characters, never repeated (across refills of the batch of
    // random bytes they are drawn from).
    let mut generated = std::collections::HashSet::new();
    for _ in 0..40 {
        let response = stack.get("/public/x", None).await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            id.len() == 16
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'),
            "{id}"
        );
        assert!(generated.insert(id), "a request id repeated");
    }
    stack.stop().await;
}

/// The forwarding headers the upstream sees when the client sends its own: `(x-forwarded-for,
/// x-forwarded-proto, x-forwarded-host, forwarded)`, and the gateway's `host:port`.
async fn forwarding_seen_upstream(trusted: bool) -> ([String; 4], String) {
    let stack = stack(TestOptions::default(), |config, upstream| {
        if trusted {
            config.trusted_proxies = vec!["127.0.0.0/8".into()];
        }
        let mut public = route("public", "/public", upstream);
        public.auth = "public".into();
        config.routes.push(public);
    })
    .await;
    let response = reqwest::Client::new()
        .get(format!("{}/public/echo", stack.base))
        // Chains over two lines each: one list (RFC 9110 §5.3).
        .header("X-Forwarded-For", "10.9.9.9")
        .header("X-Forwarded-For", "10.8.8.8")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "app.example")
        .header("Forwarded", "for=10.9.9.9;proto=https")
        .header("Forwarded", "for=10.8.8.8")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.expect("json");
    let seen = [
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
    ]
    .map(|name| {
        echoed["headers"][name]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    let authority = stack.base.trim_start_matches("http://").to_owned();
    stack.stop().await;
    (seen, authority)
}

#[tokio::test]
async fn forwarding_headers_are_replaced_from_clients_and_extended_from_trusted_proxies() {
    // RFC 7239 §5.2: an untrusted peer's claims are dropped; this hop speaks for itself.
    let (seen, authority) = forwarding_seen_upstream(false).await;
    assert_eq!(
        seen,
        [
            "127.0.0.1".to_owned(),
            "http".to_owned(),
            authority.clone(),
            format!("for=127.0.0.1;proto=http;host=\"{authority}\""),
        ]
    );
    // A trusted proxy's chain is kept and this hop appends the proxy's own address, not the
    // client's again.
    let (seen, authority) = forwarding_seen_upstream(true).await;
    assert_eq!(
        seen,
        [
            "10.9.9.9, 10.8.8.8, 127.0.0.1".to_owned(),
            "https".to_owned(),
            "app.example".to_owned(),
            format!(
                "for=10.9.9.9;proto=https, for=10.8.8.8, for=127.0.0.1;proto=http;host=\"{authority}\""
            ),
        ]
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers_per_key() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        config.routes[0].rate_limit = Some(rate_limit(2, "subject"));
        let mut by_ip = route("by-ip", "/ip", upstream);
        by_ip.auth = "public".into();
        by_ip.rate_limit = Some(rate_limit(1, "ip"));
        config.routes.push(by_ip);
    })
    .await;
    let token = stack.token(None).await;
    let first = stack.get("/api/x", Some(&token)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-policy"], "\"api\";q=2;w=60");
    assert!(
        first.headers()["ratelimit"]
            .to_str()
            .expect("ascii")
            .starts_with("\"api\";r=1;")
    );
    assert_eq!(stack.get("/api/x", Some(&token)).await.status(), 200);
    let limited = stack.get("/api/x", Some(&token)).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    assert!(
        limited.headers()["ratelimit"]
            .to_str()
            .expect("ascii")
            .contains(";r=0;")
    );
    assert_eq!(
        limited.json::<Value>().await.expect("json")["error"],
        "rate_limited"
    );
    assert_eq!(stack.get("/ip/x", None).await.status(), 200);
    assert_eq!(stack.get("/ip/x", None).await.status(), 429);
    let metrics = stack.metrics().await;
    assert!(
        metrics.contains("portcullis_gateway_rate_limited_total{route=\"api\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("portcullis_gateway_requests_total{route=\"api\",status=\"429\"} 1"));
    stack.stop().await;
}

#[tokio::test]
async fn upstream_failures_are_502_and_504() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let stack = stack(TestOptions::default(), move |config, upstream| {
        let mut down = route("down", "/down", closed);
        down.auth = "public".into();
        let mut slow = route("slow", "/slow", upstream);
        slow.auth = "public".into();
        slow.timeout_ms = 300;
        config.routes.extend([down, slow]);
    })
    .await;
    let down = stack.get("/down/x", None).await;
    assert_eq!(down.status(), 502);
    assert_eq!(
        down.json::<Value>().await.expect("json")["error"],
        "bad_gateway"
    );
    let slow = stack.get("/slow/slow", None).await;
    assert_eq!(slow.status(), 504);
    assert_eq!(
        slow.json::<Value>().await.expect("json")["error"],
        "gateway_timeout"
    );
    stack.stop().await;
}

#[tokio::test]
async fn large_bodies_stream_through_and_oversized_ones_are_refused() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut small = route("small", "/small", upstream);
        small.auth = "public".into();
        small.max_body_bytes = 1024;
        let mut big = route("big", "/big", upstream);
        big.auth = "public".into();
        big.strip_prefix = true;
        config.routes.extend([small, big]);
    })
    .await;
    let body = vec![7u8; 24 * 1024 * 1024];
    let response = reqwest::Client::new()
        .post(format!("{}/big/upload", stack.base))
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), 200);
    let echoed: Value = response.json().await.expect("json");
    assert_eq!(echoed["body_len"], 24 * 1024 * 1024);
    assert_eq!(echoed["path"], "/upload", "prefix stripped");
    let refused = reqwest::Client::new()
        .post(format!("{}/small/x", stack.base))
        .body(vec![0u8; 4096])
        .send()
        .await
        .expect("upload");
    assert_eq!(refused.status(), 413);
    // Without a declared length (chunked), the limit applies while the body streams.
    let address = stack.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let chunk = format!("1000\r\n{}\r\n", "x".repeat(4096));
    let request = format!(
        "POST /small/x HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}0\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send chunked");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "streamed oversized body refused: {answer}"
    );
    stack.stop().await;
}

#[tokio::test]
async fn routes_reload_without_a_restart_and_bad_reloads_are_refused() {
    let stack = stack(TestOptions::default(), |_, _| {}).await;
    assert_eq!(stack.get("/new/x", None).await.status(), 404);
    let running = stack.gateway.as_ref().expect("gateway");
    let mut next = portcullis_gateway::GatewayConfig::default();
    let mut added = route("new", "/new", stack.upstream);
    added.auth = "public".into();
    next.routes = vec![added];
    running.reload_routes(&next).expect("valid reload");
    assert_eq!(stack.get("/new/x", None).await.status(), 200);
    let mut broken = next.clone();
    broken.routes[0].path_prefix = "no-slash".into();
    assert!(running.reload_routes(&broken).is_err());
    assert_eq!(
        stack.get("/new/x", None).await.status(),
        200,
        "the previous routes keep serving"
    );
    // A route's series outlive reloads: the same route, reloaded, counts on.
    running.reload_routes(&next).expect("same routes again");
    assert_eq!(stack.get("/new/x", None).await.status(), 200);
    let metrics = stack.metrics().await;
    assert!(
        metrics.contains("portcullis_gateway_requests_total{route=\"new\",status=\"200\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_gateway_requests_total{route=\"unmatched\",status=\"404\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_gateway_upstream_duration_seconds_count{route=\"new\"} 3"),
        "{metrics}"
    );
    stack.stop().await;
}
