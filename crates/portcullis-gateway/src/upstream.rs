//! The upstreams of the routes, and keep-alive HTTP/1.1 connections to them, pooled per thread.
//!
//! Each worker thread keeps its own idle connections, by upstream, with no lock: a
//! request takes the most recently returned idle connection to its upstream (or opens one), and
//! the connection goes back to its thread's pool once the response body has been read to its end.
//! A connection whose response was not read to the end, or that the upstream closed, is dropped.
//! Idle connections older than [`IDLE_TIMEOUT`] are closed when the pool is next used (and an
//! upstream closes its own idle connections, ending their tasks, whatever the pool does).
//!
//! How many connections an upstream gets, across threads, and who waits when they are all taken,
//! is its [`Budget`](crate::upstream_budget::Budget): a request over the limit waits for a
//! connection another request finishes with, and is refused ([`UpstreamError::Overloaded`], 503)
//! when it cannot wait.
//!
//! An `https://` upstream is reached over TLS, its certificate verified against the route's
//! trust anchors, presenting the route's client certificate if it has one; its connections are
//! pooled apart from those of any other scheme or TLS setting.

use crate::upstream_budget::{
    Budget, Budgeted, ConnectionPermit, Handed, Overloaded, Turn, UpstreamLimits,
};
use axum::body::Body;
use hyper::body::{Body as _, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper::http::HeaderValue;
use hyper::http::uri::Authority;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::thread::ThreadId;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::net::TcpStream;

/// How long a connection may stay idle in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How an `https://` upstream is reached.
#[derive(Clone)]
pub struct UpstreamTls {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// One upstream of a route: where to connect, and the path its requests go under.
#[derive(Debug)]
pub struct Upstream {
    authority: Authority,
    tls: Option<UpstreamTls>,
    /// The authority as a `Host` header value, for requests that arrive without one.
    host: HeaderValue,
    base_path: String,
    /// Its connections' budget, whose slot is the index of its idle connections in each
    /// thread's pool.
    budget: &'static Budget,
}

impl Upstream {
    /// An upstream from its `http://host[:port][/path]` or `https://host[:port][/path]` URL;
    /// `None` for any other form. `tls` is how an `https://` one is reached, and `tls_profile`
    /// names that setting, so connections are pooled by it too; `limits` bound its connections.
    pub fn parse(
        url: &str,
        tls: impl FnOnce() -> Option<Arc<rustls::ClientConfig>>,
        tls_profile: &str,
        limits: UpstreamLimits,
    ) -> Option<Self> {
        let uri: Uri = url.parse().ok()?;
        if uri.query().is_some() {
            return None;
        }
        let authority = uri.authority()?.clone();
        let tls = match uri.scheme_str()? {
            "http" => None,
            "https" => {
                let host = authority.host();
                let host = host
                    .strip_prefix('[')
                    .and_then(|host| host.strip_suffix(']'))
                    .unwrap_or(host);
                Some(UpstreamTls {
                    config: tls()?,
                    server_name: ServerName::try_from(host.to_owned()).ok()?,
                })
            }
            _ => return None,
        };
        let slot = match &tls {
            None => pool_slot(&format!("http://{authority}")),
            Some(_) => pool_slot(&format!("https://{authority} {tls_profile}")),
        };
        Some(Upstream {
            budget: crate::upstream_budget::budget(slot, limits),
            host: HeaderValue::from_str(authority.as_str()).ok()?,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            authority,
            tls,
        })
    }

    /// Applies a valid configuration's connection limits to its budget (shared by every route
    /// naming the upstream).
    pub fn apply_limits(&self, limits: UpstreamLimits) {
        self.budget.set_limits(limits);
    }

    /// Whether it is reached over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Host and port.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Host and port as a `Host` header value.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// The path requests go under, without a trailing `/`.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }
}

/// The pool slot of an upstream (scheme, authority and TLS setting): the same for every route and
/// configuration reload that names it, so connections outlive reloads and a request finds its
/// pool by index, not by hashing.
fn pool_slot(authority: &str) -> usize {
    static SLOTS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    let mut slots = SLOTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let next = slots.len();
    *slots.entry(authority.to_owned()).or_insert(next)
}

/// Why a request could not be exchanged with the upstream.
#[derive(Debug, Error)]
pub enum UpstreamError {
    /// No connection within the connect timeout.
    #[error("connect to {0} timed out")]
    ConnectTimeout(Authority),
    /// The connection could not be opened.
    #[error("connect to {authority}: {source}")]
    Connect {
        /// The upstream.
        authority: Authority,
        /// The socket error.
        source: std::io::Error,
    },
    /// The TLS handshake failed: an untrusted, expired or misnamed certificate, or a refused
    /// client certificate.
    #[error("TLS with {authority}: {source}")]
    Tls {
        /// The upstream.
        authority: Authority,
        /// The handshake error.
        source: std::io::Error,
    },
    /// The exchange failed (the upstream closed, sent a malformed response, or the request body
    /// failed).
    #[error(transparent)]
    Http(#[from] hyper::Error),
    /// Every connection the upstream may have is taken and the request could not wait for one.
    #[error("{0} has no connection free")]
    Overloaded(Authority),
}

struct IdleConnection {
    sender: http1::SendRequest<Body>,
    since: Instant,
}

thread_local! {
    /// Idle connections by upstream slot.
    static IDLE: RefCell<Vec<VecDeque<IdleConnection>>> = const { RefCell::new(Vec::new()) };
    /// This thread's id, read once.
    static THIS_THREAD: ThreadId = std::thread::current().id();
}

/// The id of the running thread; `None` while the thread is ending.
fn this_thread() -> Option<ThreadId> {
    THIS_THREAD.try_with(|id| *id).ok()
}

/// Runs `use_pools` on this thread's pools; `None` while the thread is ending (its pools are
/// gone) or if they are in use further up the stack: the caller then does without.
fn with_pools<R>(
    use_pools: impl FnOnce(&mut Vec<VecDeque<IdleConnection>>) -> Option<R>,
) -> Option<R> {
    IDLE.try_with(|pools| use_pools(&mut *pools.try_borrow_mut().ok()?))
        .ok()
        .flatten()
}

/// Takes this thread's most recently returned, still open idle connection in `slot`.
fn take_idle(slot: usize) -> Option<http1::SendRequest<Body>> {
    with_pools(|pools| {
        let idle = pools.get_mut(slot)?;
        close_expired(idle);
        std::iter::from_fn(|| idle.pop_back())
            .map(|connection| connection.sender)
            .find(|sender| !sender.is_closed())
    })
}

/// Hands a connection whose exchange ended to a request waiting for one, or returns it to this
/// thread's pool if this thread's runtime drives it (else, or if the pool is full, closes it).
fn return_idle(budget: &Budget, handed: Handed) {
    if handed.sender.is_closed() {
        return;
    }
    let Some(Handed { sender, owner }) = budget.hand_over(handed) else {
        return;
    };
    if this_thread() != Some(owner) {
        return;
    }
    let slot = budget.slot;
    with_pools(|pools| {
        if pools.len() <= slot {
            pools.resize_with(slot + 1, VecDeque::new);
        }
        let idle = pools.get_mut(slot)?;
        close_expired(idle);
        if idle.len() < budget.idle_per_thread() {
            idle.push_back(IdleConnection {
                sender,
                since: Instant::now(),
            });
        }
        Some(())
    });
}

/// Drops the connections idle for longer than [`IDLE_TIMEOUT`] (the oldest are at the front).
fn close_expired(idle: &mut VecDeque<IdleConnection>) {
    while idle
        .front()
        .is_some_and(|connection| connection.since.elapsed() > IDLE_TIMEOUT)
    {
        idle.pop_front();
    }
}

/// Opens a connection to `upstream`, which holds `permit` until it closes.
async fn connect(
    upstream: &Upstream,
    connect_timeout: Duration,
    permit: ConnectionPermit,
) -> Result<http1::SendRequest<Body>, UpstreamError> {
    let authority = &upstream.authority;
    let host = authority.host();
    // An IPv6 literal comes bracketed in the authority (RFC 3986 §3.2.2), not in a socket address.
    let host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    let default_port = if upstream.tls.is_some() { 443 } else { 80 };
    let port = authority.port_u16().unwrap_or(default_port);
    let connecting = async {
        let stream =
            TcpStream::connect((host, port))
                .await
                .map_err(|source| UpstreamError::Connect {
                    authority: authority.clone(),
                    source,
                })?;
        stream
            .set_nodelay(true)
            .map_err(|source| UpstreamError::Connect {
                authority: authority.clone(),
                source,
            })?;
        let Some(tls) = &upstream.tls else {
            return handshake(stream, permit).await;
        };
        let stream = tokio_rustls::TlsConnector::from(tls.config.clone())
            .connect(tls.server_name.clone(), stream)
            .await
            .map_err(|source| UpstreamError::Tls {
                authority: authority.clone(),
                source,
            })?;
        handshake(stream, permit).await
    };
    tokio::time::timeout(connect_timeout, connecting)
        .await
        .map_err(|_| UpstreamError::ConnectTimeout(authority.clone()))?
}

/// HTTP/1.1 over an open connection, which a task of its own drives; the socket holds `permit`
/// until it closes (after an upgrade, when the tunnel does).
async fn handshake<I>(
    io: I,
    permit: ConnectionPermit,
) -> Result<http1::SendRequest<Body>, UpstreamError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(Budgeted::new(io, permit))).await?;
    // With upgrades, so WebSocket connections can be passed through.
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Sends `request` (in origin form, with its `Host`) to `upstream` over a pooled connection,
/// a new one opened within `connect_timeout`, or, when the upstream has all the connections its
/// budget allows, one another request finishes with. The response body returns the connection to
/// the pool (or to a waiting request) when read to its end.
///
/// A request that an idle connection could not take (the upstream had closed it) was never sent,
/// so it is sent again on another connection, whatever its method (RFC 9110 §9.2.2 concerns
/// requests that may have reached the server).
///
/// # Errors
/// [`UpstreamError`]; [`UpstreamError::Overloaded`] when the request could not wait for a
/// connection.
pub async fn send(
    upstream: &Upstream,
    connect_timeout: Duration,
    mut request: Request<Body>,
) -> Result<Response<Body>, UpstreamError> {
    loop {
        let budget = upstream.budget;
        // The connection, whether it was used before, and the thread whose runtime drives it (a
        // connection opened here is driven by this thread's runtime).
        let (mut sender, reused, owner) = match take_idle(budget.slot) {
            Some(sender) => (sender, true, this_thread()),
            None => {
                let turn = match budget.try_open() {
                    Some(permit) => Turn::Open(permit),
                    // Boxed, as below: waiting is rare and its state would weigh on every request.
                    None => Box::pin(budget.wait_for_turn())
                        .await
                        .map_err(|Overloaded| {
                            UpstreamError::Overloaded(upstream.authority.clone())
                        })?,
                };
                match turn {
                    // Boxed: opening a connection (a TLS handshake's state especially) is large,
                    // and would otherwise make every request's future as large, copied on each
                    // request.
                    Turn::Open(permit) => (
                        Box::pin(connect(upstream, connect_timeout, permit)).await?,
                        false,
                        this_thread(),
                    ),
                    Turn::HandedOver(handed) => (handed.sender, true, Some(handed.owner)),
                }
            }
        };
        if let Err(error) = sender.ready().await {
            if reused {
                continue;
            }
            return Err(error.into());
        }
        match sender.try_send_request(request).await {
            Ok(response) => {
                // A switched protocol takes the connection for good.
                let lease = match owner {
                    Some(owner) if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS => {
                        Some((budget, Handed { sender, owner }))
                    }
                    _ => None,
                };
                return Ok(response.map(|body| Body::new(PooledBody { body, lease })));
            }
            Err(mut error) => match error.take_message() {
                Some(unsent) if reused => request = unsent,
                _ => return Err(error.into_error().into()),
            },
        }
    }
}

/// A response body that returns its connection to the pool once read to its end.
struct PooledBody {
    body: Incoming,
    lease: Option<(&'static Budget, Handed)>,
}

impl PooledBody {
    fn release(&mut self) {
        if let Some((budget, handed)) = self.lease.take() {
            return_idle(budget, handed);
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match &frame {
            None => self.release(),
            Some(Ok(_)) if self.body.is_end_stream() => self.release(),
            // An error ends the connection: it is not returned.
            Some(Err(_)) => self.lease = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // A body known to be empty may be dropped unread; its connection is reusable.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}
