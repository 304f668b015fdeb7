//! The gateway's listeners: the public one (HTTP/1.1 and HTTP/2, a header read timeout against
//! slowloris, a header size cap, a connection limit, graceful drain) and the admin one
//! (`/healthz`, `/readyz`, `/metrics`). Background tasks (revocation feeds) stop with it.

use crate::pipeline::{Gateway, handle};
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
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// Time allowed to send request headers.
    pub header_read_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
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

/// Serves one accepted connection (already decrypted if TLS) with the protocol it speaks, until
/// it ends or the drain begins.
///
/// The connection and each request's future are boxed, so an idle keep-alive connection holds
/// only the state of its own protocol (RSS with many open connections).
async fn serve_connection<I>(
    protocols: Protocols,
    io: I,
    http2: bool,
    gateway: Arc<Gateway>,
    peer: std::net::SocketAddr,
    mut drain_signal: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = handle(gateway.clone(), peer, request.map(Body::new));
        Box::pin(async move { Ok::<_, std::convert::Infallible>(response.await) })
    });
    let io = TokioIo::new(io);
    let result = if http2 {
        let mut connection = Box::pin(protocols.http2.serve_connection(io, service));
        tokio::select! {
            result = connection.as_mut() => result,
            _ = drain_signal.changed() => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        }
    } else {
        // With upgrades, so WebSocket connections can be passed through.
        let mut connection = Box::pin(
            protocols
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

/// Serves until `shutdown` resolves, then stops accepting and drains open requests.
///
/// # Errors
/// I/O errors of the admin listener.
pub async fn serve(
    gateway: Arc<Gateway>,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    listener: TcpListener,
    admin_listener: TcpListener,
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
    let protocols = Protocols::new(&limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Each connection watches this and finishes its in-flight request before closing.
    let (draining, drain_signal) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
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
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing connection");
            continue;
        };
        let gateway = gateway.clone();
        let protocols = protocols.clone();
        let drain_signal = drain_signal.clone();
        let tls = tls.clone();
        let handshake_timeout = limits.header_read_timeout;
        connections.spawn(async move {
            match tls {
                None => {
                    let mut draining = drain_signal.clone();
                    let sniffed = tokio::select! {
                        sniffed = sniff_http2(&stream, handshake_timeout) => sniffed,
                        // Nothing was asked yet: a drain closes the connection at once.
                        _ = draining.changed() => None,
                    };
                    if let Some(http2) = sniffed {
                        serve_connection(protocols, stream, http2, gateway, peer, drain_signal)
                            .await;
                    }
                }
                Some(acceptor) => {
                    // Boxed: the handshake's state is large, and would otherwise make the task
                    // of every plain connection as large.
                    let handshake = Box::pin(tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    ));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            // The protocol was agreed by ALPN (RFC 7301).
                            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                            Box::pin(serve_connection(
                                protocols,
                                stream,
                                http2,
                                gateway,
                                peer,
                                drain_signal,
                            ))
                            .await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = draining.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_ok() {
        tracing::info!("gateway drained");
    } else {
        tracing::warn!("drain timeout; closing remaining connections");
        connections.abort_all();
    }
    let _ = admin_stop.send(());
    admin.await.map_err(std::io::Error::other)?
}
