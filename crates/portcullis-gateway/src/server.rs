//! The gateway's listeners: the public one (HTTP/1.1 and HTTP/2, a header read timeout against
//! slowloris, a header size cap, a connection limit, graceful drain), served by one thread per
//! core ([`crate::worker`]); the forward-auth one, with the same limits, answering the proxies in
//! front ([`crate::forward_auth`]); and the admin one (`/healthz`, `/readyz`, `/metrics`).
//! Background tasks (revocation feeds) stop with it.

use crate::pipeline::{Gateway, Mode, handle};
use crate::proxy::Peer;
use crate::worker;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Time allowed to send request headers (and, on HTTP/1.1, to start the next request).
    pub header_read_timeout: Duration,
    /// An HTTP/2 connection without an open request for this long is closed.
    pub http2_idle_timeout: Duration,
    /// HTTP/2 keep-alive ping interval; `None`: no pings.
    pub http2_keepalive_interval: Option<Duration>,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Worker threads serving the listener; 0: one per core ([`worker::count`]).
    pub workers: usize,
}

/// The HTTP/2 connection preface (RFC 9113 §3.4), which a client speaking HTTP/2 over cleartext
/// with prior knowledge sends first.
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The two protocol engines, configured once.
#[derive(Clone)]
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(limits: &ConnectionLimits) -> Self {
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192));
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
        // A peer that stops answering pings (a dead client, or one that only sent the preface
        // after the handshake) is disconnected.
        if let Some(interval) = limits.http2_keepalive_interval {
            http2
                .keep_alive_interval(interval)
                .keep_alive_timeout(interval);
        }
        Protocols { http1, http2 }
    }
}

/// Whether a cleartext connection starts with the HTTP/2 preface. Reads nothing (peeks), so the
/// protocol engine chosen sees every byte; gives up (`None`: close) after `timeout`, like the
/// header read timeout, so a silent connection cannot be held open.
async fn sniff_http2(stream: &TcpStream, timeout: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = [0u8; HTTP2_PREFACE.len()];
    loop {
        let read = tokio::time::timeout_at(deadline, stream.peek(&mut seen))
            .await
            .ok()?
            .ok()?;
        let seen = seen.get(..read)?;
        if read == 0 || !HTTP2_PREFACE.starts_with(seen) {
            return Some(false);
        }
        if read == HTTP2_PREFACE.len() {
            return Some(true);
        }
        // Part of the preface so far: peek returns at once while data is waiting, so wait a
        // little for the rest.
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The answer to one request of a listener in `mode`.
async fn respond(
    mode: Mode,
    gateway: Arc<Gateway>,
    peer: Arc<Peer>,
    request: Request<Body>,
) -> axum::response::Response {
    match mode {
        Mode::Proxy => handle(gateway, peer, request).await,
        // Boxed: the larger state of a forward-auth answer would otherwise be held by every
        // proxied request in flight (RSS with many busy connections).
        Mode::Decide => Box::pin(crate::forward_auth::answer(&gateway, &peer, request)).await,
    }
}

/// Serves one accepted connection (already decrypted if TLS) with the protocol it speaks, until
/// it ends or the drain begins.
///
/// The connection and each request's future are boxed, so an idle keep-alive connection holds
/// only the state of its own protocol (RSS with many open connections).
async fn serve_connection<I>(shared: &Shared, io: I, http2: bool, peer: std::net::SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let gateway = shared.gateway.clone();
    let mode = shared.mode;
    let mut drain_signal = shared.drain_signal.clone();
    let peer = Arc::new(Peer::new(peer.ip()));
    let io = TokioIo::new(io);
    let result = if http2 {
        let activity = Arc::new(Activity::new());
        let tracked = activity.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let open = OpenRequest::begin(&tracked);
            let response = respond(mode, gateway.clone(), peer.clone(), request.map(Body::new));
            Box::pin(async move {
                let response = response.await;
                Ok::<_, std::convert::Infallible>(response.map(|body| open.until_end_of(body)))
            })
        });
        let mut connection = Box::pin(shared.protocols.http2.serve_connection(io, service));
        let idle_timeout = shared.limits.http2_idle_timeout;
        loop {
            tokio::select! {
                result = connection.as_mut() => break result,
                _ = drain_signal.changed() => {
                    connection.as_mut().graceful_shutdown();
                    break connection.await;
                }
                () = tokio::time::sleep_until(activity.idle_deadline(idle_timeout)) => {
                    if activity.idle_for(idle_timeout) {
                        // GOAWAY, then at most the header timeout for the peer to take it.
                        connection.as_mut().graceful_shutdown();
                        let bounded = tokio::time::timeout(
                            shared.limits.header_read_timeout,
                            connection.as_mut(),
                        );
                        break bounded.await.unwrap_or(Ok(()));
                    }
                }
            }
        }
    } else {
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let response = respond(
                mode,
                gateway.clone(),
                peer.clone(),
                crate::request_head::detach(request).map(Body::new),
            );
            Box::pin(async move { Ok::<_, std::convert::Infallible>(response.await) })
        });
        // With upgrades, so WebSocket connections can be passed through.
        let mut connection = Box::pin(
            shared
                .protocols
                .http1
                .serve_connection(io, service)
                .with_upgrades(),
        );
        tokio::select! {
            result = connection.as_mut() => result,
            _ = drain_signal.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// The open requests of an HTTP/2 connection and when it last had one, so a connection that holds
/// no request (or never completes its handshake) is closed after the idle timeout; HTTP/2 itself
/// would keep it forever.
struct Activity {
    started: tokio::time::Instant,
    open: AtomicUsize,
    /// Milliseconds after `started` when the last request ended.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Activity {
            started: tokio::time::Instant::now(),
            open: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn idle_for(&self, timeout: Duration) -> bool {
        self.open.load(Ordering::Acquire) == 0
            && self
                .elapsed_ms()
                .saturating_sub(self.idle_since_ms.load(Ordering::Acquire))
                >= u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// When the connection will have been idle for `timeout`, if nothing happens before.
    fn idle_deadline(&self, timeout: Duration) -> tokio::time::Instant {
        if self.open.load(Ordering::Acquire) > 0 {
            return tokio::time::Instant::now() + timeout;
        }
        self.started + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire)) + timeout
    }
}

/// One request of an HTTP/2 connection, open until its response body ends or is dropped.
struct OpenRequest(Arc<Activity>);

impl OpenRequest {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.open.fetch_add(1, Ordering::AcqRel);
        OpenRequest(activity.clone())
    }

    /// The response body, holding the request open until it is done.
    fn until_end_of(self, body: Body) -> Body {
        Body::new(TrackedBody { body, _open: self })
    }
}

impl Drop for OpenRequest {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(self.0.elapsed_ms(), Ordering::Release);
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as open.
struct TrackedBody {
    body: Body,
    _open: OpenRequest,
}

impl hyper::body::Body for TrackedBody {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

fn admin_router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(gateway)
}

/// Ready when every issuer's keys have been loaded at least once. Without Redis the gateway is
/// still ready (it validates, follows the feeds and limits locally); the body says it is degraded.
async fn readyz(State(gateway): State<Arc<Gateway>>) -> (StatusCode, &'static str) {
    if !gateway
        .authenticator
        .issuers()
        .all(|issuer| issuer.is_loaded())
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "issuer keys not loaded");
    }
    if gateway.follows_redis && !gateway.metrics.is_redis_connected() {
        return (
            StatusCode::OK,
            "ready, degraded: Redis unavailable (revocations by feed, rate limits per gateway)",
        );
    }
    (StatusCode::OK, "ready")
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        gateway.metrics.render(),
    )
}

/// What every worker thread and connection shares; a connection holds it by one `Arc`, so an idle
/// connection's task stays small (RSS with many open connections).
struct Shared {
    gateway: Arc<Gateway>,
    /// What the listener's requests are: requests to proxy, or a proxy's questions.
    mode: Mode,
    protocols: Protocols,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    drain_signal: watch::Receiver<bool>,
}

/// Serves until `shutdown` resolves, then stops accepting and drains open requests.
///
/// The public listener is served by [`worker::count`] threads (`limits.workers`, else one per
/// core), each accepting on the same socket with its own single-threaded runtime; the admin
/// listener and background tasks stay on the caller's runtime.
///
/// # Errors
/// I/O errors of the listeners, or a worker thread that could not start.
pub async fn serve(
    gateway: Arc<Gateway>,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    listener: TcpListener,
    admin_listener: TcpListener,
    forward_auth_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin = tokio::spawn(
        axum::serve(admin_listener, admin_router(gateway.clone()))
            .with_graceful_shutdown(async move {
                let _ = admin_stopped.await;
            })
            .into_future(),
    );
    // Each connection watches this and finishes its in-flight request before closing.
    let (draining, drain_signal) = watch::channel(false);
    // The forward-auth listener: the public listener's limits, timeouts and drain, cleartext,
    // on this runtime.
    let forward_auth = match forward_auth_listener {
        Some(listener) => {
            let shared = Arc::new(Shared {
                gateway: gateway.clone(),
                mode: Mode::Decide,
                protocols: Protocols::new(&limits),
                limits,
                tls: None,
                drain_signal: drain_signal.clone(),
            });
            let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
            Some(tokio::spawn(accept_loop(
                listener.into_std()?,
                shared,
                permits,
            )))
        }
        None => None,
    };
    let shared = Arc::new(Shared {
        gateway,
        mode: Mode::Proxy,
        protocols: Protocols::new(&limits),
        limits,
        tls,
        drain_signal,
    });
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let listener = listener.into_std()?;
    let mut workers = Vec::new();
    let mut started = Ok(());
    for index in 0..worker::count(limits.workers) {
        match start_worker(index, &listener, shared.clone(), permits.clone()) {
            Ok(stopped) => workers.push(stopped),
            Err(error) => {
                started = Err(error);
                break;
            }
        }
    }
    drop(listener);
    if started.is_ok() {
        shutdown.await;
    }
    let _ = draining.send(true);
    for stopped in workers {
        let _ = stopped.await;
    }
    if let Some(forward_auth) = forward_auth {
        let _ = forward_auth.await;
    }
    let _ = admin_stop.send(());
    started?;
    admin.await.map_err(std::io::Error::other)?
}

/// Starts worker `index` on its own thread, accepting on a duplicate of `listener`; the receiver
/// completes when the worker has drained.
fn start_worker(
    index: usize,
    listener: &std::net::TcpListener,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
) -> std::io::Result<tokio::sync::oneshot::Receiver<()>> {
    let listener = listener.try_clone()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stopped, on_stopped) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("gateway-{index}"))
        .spawn(move || {
            runtime.block_on(accept_loop(listener, shared, permits));
            let _ = stopped.send(());
        })?;
    Ok(on_stopped)
}

/// One worker: accepts and serves connections until the drain, then waits for them (at most the
/// drain timeout).
async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, "gateway worker could not listen");
            return;
        }
    };
    let mut draining = shared.drain_signal.clone();
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = draining.changed() => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing connection");
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            serve_accepted(stream, peer, shared).await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(shared.limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_ok() {
        tracing::info!("gateway worker drained");
    } else {
        tracing::warn!("drain timeout; closing remaining connections");
        connections.abort_all();
    }
}

/// One accepted connection: the TLS handshake or the cleartext protocol sniff, then its requests.
async fn serve_accepted(stream: TcpStream, peer: std::net::SocketAddr, shared: Arc<Shared>) {
    match &shared.tls {
        None => serve_cleartext(stream, peer, &shared).await,
        // Boxed: a TLS connection's state is large, and would otherwise make the task of every
        // cleartext connection as large (RSS with many open connections).
        Some(acceptor) => Box::pin(serve_tls(acceptor, stream, peer, &shared)).await,
    }
}

async fn serve_cleartext(stream: TcpStream, peer: std::net::SocketAddr, shared: &Shared) {
    let mut draining = shared.drain_signal.clone();
    let sniffed = tokio::select! {
        sniffed = sniff_http2(&stream, shared.limits.header_read_timeout) => sniffed,
        // Nothing was asked yet: a drain closes the connection at once.
        _ = draining.changed() => None,
    };
    if let Some(http2) = sniffed {
        serve_connection(shared, stream, http2, peer).await;
    }
}

async fn serve_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    shared: &Shared,
) {
    let handshake =
        tokio::time::timeout(shared.limits.header_read_timeout, acceptor.accept(stream)).await;
    let stream = match handshake {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
    };
    // The protocol was agreed by ALPN (RFC 7301).
    let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    serve_connection(shared, stream, http2, peer).await;
}
