//! Upstream connections: kept alive and reused between requests, an idle one the upstream has
//! since closed costs the next request nothing, and one whose response was not read to its end is
//! never reused.

use crate::support::{Stack, route, stack};
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use portcullis_testkit::TestOptions;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

/// An upstream that answers each request with `answer(path, client port of its connection)`,
/// and closes each connection `lifetime` after accepting it (as an upstream's keep-alive timeout
/// closes idle connections).
async fn upstream(lifetime: Duration, answer: fn(&str, u16) -> Body) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let body = answer(request.uri().path(), peer.port());
                async move { Ok::<_, std::convert::Infallible>(Response::new(body)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            tokio::spawn(tokio::time::timeout(lifetime, connection));
        }
    });
    address
}

/// The client port of the connection, as text.
fn port(_: &str, port: u16) -> Body {
    Body::from(port.to_string())
}

/// The test stack with a public route `/<name>` to `upstream`.
async fn stack_with_public_route(name: &'static str, upstream: SocketAddr) -> Stack {
    stack(TestOptions::default(), move |config, _| {
        let mut public = route(name, &format!("/{name}"), upstream);
        public.auth = "public".into();
        config.routes.push(public);
    })
    .await
}

/// The upstream ports that served `count` requests sent one after another on one connection.
async fn ports(client: &reqwest::Client, url: &str, count: usize) -> BTreeSet<String> {
    let mut ports = BTreeSet::new();
    for _ in 0..count {
        let response = client.get(url).send().await.expect("gateway request");
        assert_eq!(response.status(), 200);
        ports.insert(response.text().await.expect("body"));
    }
    ports
}

#[tokio::test]
async fn upstream_connections_are_reused_and_closed_ones_replaced() {
    let upstream = upstream(Duration::from_secs(1), port).await;
    let stack = stack_with_public_route("pooled", upstream).await;
    let client = reqwest::Client::new();
    let url = format!("{}/pooled/x", stack.base);
    let first = ports(&client, &url, 8).await;
    assert_eq!(
        first.len(),
        1,
        "one keep-alive upstream connection: {first:?}"
    );
    // The upstream has closed that connection by now; the gateway opens another without a 502.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = ports(&client, &url, 8).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(first.is_disjoint(&second), "{first:?} then {second:?}");
    stack.stop().await;
}

#[tokio::test]
async fn a_response_abandoned_mid_body_never_reaches_another_request() {
    // 8 MiB for `/big`, more than the socket buffers hold, so most of it is still unread upstream
    // when the client goes away.
    fn sized(path: &str, _: u16) -> Body {
        if path.ends_with("/big") {
            Body::from(vec![b'x'; 8 << 20])
        } else {
            Body::from("small")
        }
    }
    let upstream = upstream(Duration::from_secs(30), sized).await;
    let stack = stack_with_public_route("sized", upstream).await;
    let client = reqwest::Client::new();
    let get = |size: &str| client.get(format!("{}/sized/{size}", stack.base)).send();
    for _ in 0..4 {
        let big = get("big").await.expect("gateway request");
        assert_eq!(big.status(), 200);
        drop(big);
        // Whichever worker serves it, the next request gets its own answer, not the rest of the
        // abandoned body from a reused upstream connection.
        let small = get("small").await.expect("gateway request");
        assert_eq!(small.status(), 200);
        assert_eq!(small.text().await.expect("body"), "small");
    }
    stack.stop().await;
}
