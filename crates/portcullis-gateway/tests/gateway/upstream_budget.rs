//! An upstream's connection budget (issue 23: 10,000 busy clients must not become 10,000
//! upstream connections): at most `upstream_max_connections` open at once; requests over it wait
//! for a connection another request finishes with, within `upstream_max_pending` and
//! `upstream_pending_timeout_ms`, and are otherwise answered 503 with `Retry-After`, quickly.

use crate::support::{Stack, route, stack};
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use portcullis_testkit::TestOptions;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the upstream saw: connections accepted, open now, and open at most at once.
#[derive(Default)]
struct Connections {
    accepted: AtomicUsize,
    open: AtomicUsize,
    most_at_once: AtomicUsize,
}

/// An upstream answering every request after `delay`, counting its connections.
async fn slow_upstream(delay: Duration) -> (SocketAddr, Arc<Connections>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let connections = Arc::new(Connections::default());
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.accepted.fetch_add(1, Ordering::SeqCst);
            let open = counted.open.fetch_add(1, Ordering::SeqCst) + 1;
            counted.most_at_once.fetch_max(open, Ordering::SeqCst);
            let service = hyper::service::service_fn(move |_: Request<Incoming>| async move {
                tokio::time::sleep(delay).await;
                Ok::<_, std::convert::Infallible>(Response::new(Body::from("ok")))
            });
            let counted = counted.clone();
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                counted.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (address, connections)
}

/// The test stack with a public route `/slow` to `upstream` and the given budget.
async fn stack_with_budget(
    upstream: SocketAddr,
    max_connections: usize,
    max_pending: usize,
    pending_timeout_ms: u64,
) -> Stack {
    stack(TestOptions::default(), move |config, _| {
        let mut public = route("slow", "/slow", upstream);
        public.auth = "public".into();
        config.routes.push(public);
        // One worker thread: its pool keeps max / 2 idle, whatever the machine's cores.
        config.workers = 1;
        config.upstream_max_connections = max_connections;
        config.upstream_max_pending = max_pending;
        config.upstream_pending_timeout_ms = pending_timeout_ms;
    })
    .await
}

/// Sends `count` requests at once, each on a connection of its own; each answer's status,
/// `Retry-After`, body and how long it took.
async fn at_once(url: &str, count: usize) -> Vec<(u16, Option<String>, String, Duration)> {
    let requests = (0..count).map(|_| {
        let url = url.to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let started = Instant::now();
            let response = client.get(&url).send().await.expect("gateway request");
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body = response.text().await.expect("body");
            (status, retry_after, body, started.elapsed())
        })
    });
    let mut answers = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        answers.push(request.await.expect("request task"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_limit_wait_for_a_finished_connection_or_get_503_at_once() {
    let (upstream, connections) = slow_upstream(Duration::from_millis(300)).await;
    let stack = stack_with_budget(upstream, 2, 4, 5_000).await;
    let answers = at_once(&format!("{}/slow/x", stack.base), 8).await;

    let served: Vec<_> = answers.iter().filter(|answer| answer.0 == 200).collect();
    let refused: Vec<_> = answers.iter().filter(|answer| answer.0 == 503).collect();
    // Two at once, four waiting for theirs; two more could not wait.
    assert_eq!((served.len(), refused.len()), (6, 2), "{answers:?}");
    for (_, retry_after, body, took) in &refused {
        assert_eq!(retry_after.as_deref(), Some("1"));
        let body: Value = serde_json::from_str(body).expect("JSON error");
        assert_eq!(body["error"], "temporarily_unavailable");
        assert!(
            *took < Duration::from_millis(250),
            "refused at once, not after the upstream's delay: {took:?}"
        );
    }
    // The waiting requests were served on the two connections as they finished: the upstream
    // never saw a third.
    assert!(
        connections.most_at_once.load(Ordering::SeqCst) <= 2,
        "{} connections at once",
        connections.most_at_once.load(Ordering::SeqCst)
    );
    assert_eq!(connections.accepted.load(Ordering::SeqCst), 2);

    // Nothing is left waiting or held: the next requests are served, within the limit still
    // (the one thread keeps at most 2 / (1 + 1) = 1 idle, so one may have been closed).
    let later = at_once(&format!("{}/slow/y", stack.base), 2).await;
    assert!(later.iter().all(|answer| answer.0 == 200), "{later:?}");
    assert!(connections.most_at_once.load(Ordering::SeqCst) <= 2);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_waits_too_long_gets_503_not_a_timeout() {
    let (upstream, connections) = slow_upstream(Duration::from_millis(800)).await;
    let stack = stack_with_budget(upstream, 1, 10, 150).await;
    let answers = at_once(&format!("{}/slow/x", stack.base), 3).await;
    let served = answers.iter().filter(|answer| answer.0 == 200).count();
    assert_eq!(served, 1, "{answers:?}");
    for (status, retry_after, _, took) in answers.iter().filter(|answer| answer.0 != 200) {
        assert_eq!((*status, retry_after.as_deref()), (503, Some("1")));
        assert!(
            *took < Duration::from_millis(600),
            "after the pending timeout, before the upstream answers: {took:?}"
        );
    }
    assert_eq!(connections.accepted.load(Ordering::SeqCst), 1);
    stack.stop().await;
}
