//! Forwarding to the upstream: pooled keep-alive connections, bodies streamed both ways (never
//! buffered), hop-by-hop headers removed (RFC 9110 §7.6.1), `Forwarded`/`X-Forwarded-*` appended,
//! and failures mapped by source: unreachable upstream 502, slow upstream 504.

use crate::error::GatewayError;
use crate::identity::{Identity, write_identity_headers};
use crate::routes::Route;
use crate::worker;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Pooled HTTP/1.1 clients for one route's upstreams, one per worker thread, so a request is
/// forwarded over a connection driven by its own thread.
#[derive(Clone)]
pub struct UpstreamClient {
    per_worker: Vec<Client<HttpConnector, Body>>,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("workers", &self.per_worker.len())
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    fn current(&self) -> &Client<HttpConnector, Body> {
        let index = worker::index() % self.per_worker.len().max(1);
        &self.per_worker[index]
    }
}

/// Clients with the given connect timeout and keep-alive pooling.
pub fn upstream_client(connect_timeout: Duration) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    let per_worker = (0..worker::count())
        .map(|_| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(512)
                .build(connector.clone())
        })
        .collect();
    UpstreamClient { per_worker }
}

/// RFC 9110 §7.6.1: connection-specific headers that must not be forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    HeaderName::from_static("connection"),
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("te"),
    HeaderName::from_static("trailer"),
    HeaderName::from_static("transfer-encoding"),
    HeaderName::from_static("upgrade"),
    HeaderName::from_static("proxy-authorization"),
];

/// Whether the request asks to switch protocols (RFC 9110 §7.8), e.g. to WebSocket.
fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade
        .then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names instead of a lookup per listed name.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    // RFC 9110 §7.6.1: so are the headers the `Connection` header names.
    if headers.contains_key(header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// What the proxy needs to know about the request beyond the request itself.
#[derive(Debug)]
pub struct ForwardContext<'a> {
    /// The matched route.
    pub route: &'a Route,
    /// The authenticated caller, if the route requires one.
    pub identity: Option<&'a Identity>,
    /// The address that connected to the gateway: what this hop adds to `X-Forwarded-For` and
    /// `Forwarded: for=` (RFC 7239 §5.2), whether or not it is a trusted proxy.
    pub peer: IpAddr,
    /// Whether the peer is a trusted proxy whose `X-Forwarded-*` headers are kept.
    pub peer_trusted: bool,
    /// Keep `Authorization` for the backend.
    pub forward_authorization: bool,
    /// The request id.
    pub request_id: &'a HeaderValue,
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

fn text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn insert_text(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn append_forwarding(headers: &mut HeaderMap, context: &ForwardContext<'_>) {
    // The Host value is shared, not copied, by the headers that repeat it.
    let host = headers
        .get(header::HOST)
        .filter(|value| value.to_str().is_ok())
        .cloned();
    let ip = context.peer.to_string();
    let http = HeaderValue::from_static("http");
    if context.peer_trusted {
        match text(headers, &X_FORWARDED_FOR) {
            Some(chain) => insert_text(headers, X_FORWARDED_FOR, &format!("{chain}, {ip}")),
            None => insert_text(headers, X_FORWARDED_FOR, &ip),
        }
        if text(headers, &X_FORWARDED_PROTO).is_none() {
            headers.insert(X_FORWARDED_PROTO, http);
        }
        if text(headers, &X_FORWARDED_HOST).is_none() {
            headers.insert(
                X_FORWARDED_HOST,
                host.clone().unwrap_or(HeaderValue::from_static("")),
            );
        }
    } else {
        // RFC 7239 §5.2: values from untrusted peers are replaced, not extended.
        insert_text(headers, X_FORWARDED_FOR, &ip);
        headers.insert(X_FORWARDED_PROTO, http);
        headers.insert(
            X_FORWARDED_HOST,
            host.clone().unwrap_or(HeaderValue::from_static("")),
        );
        headers.remove(header::FORWARDED);
    }
    let host = host
        .as_ref()
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .replace('"', "");
    let element = match context.peer {
        IpAddr::V6(_) => format!("for=\"[{ip}]\";proto=http;host=\"{host}\""),
        IpAddr::V4(_) => format!("for={ip};proto=http;host=\"{host}\""),
    };
    match text(headers, &header::FORWARDED) {
        Some(previous) => insert_text(
            headers,
            header::FORWARDED,
            &format!("{previous}, {element}"),
        ),
        None => insert_text(headers, header::FORWARDED, &element),
    }
}

fn upstream_uri(route: &Route, uri: &Uri) -> Result<Uri, GatewayError> {
    let base = route.next_upstream();
    let mut target = String::with_capacity(64);
    target.push_str(base.scheme_str().unwrap_or("http"));
    target.push_str("://");
    target.push_str(
        base.authority()
            .map(|authority| authority.as_str())
            .unwrap_or_default(),
    );
    target.push_str(base.path().trim_end_matches('/'));
    target.push_str(route.upstream_path(uri.path()));
    if let Some(query) = uri.query() {
        target.push('?');
        target.push_str(query);
    }
    target.parse().map_err(|_| GatewayError::BadGateway)
}

fn is_body_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// Forwards `request` to the route's next upstream and returns the streamed response.
///
/// # Errors
/// 413 for an oversized body, 502 when the upstream fails, 504 when it is too slow.
pub async fn forward(
    context: ForwardContext<'_>,
    request: Request<Body>,
) -> Result<(Response<Body>, Duration), GatewayError> {
    let route = context.route;
    let (mut parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > route.max_body_bytes) {
        return Err(GatewayError::BodyTooLarge);
    }
    parts.uri = upstream_uri(route, &parts.uri)?;
    let upgrade = upgrade_protocol(&parts.headers);
    let client_upgrade = upgrade
        .as_ref()
        .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
    remove_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = &upgrade {
        // The upgrade itself is end-to-end: re-add the two headers that ask for it.
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol.clone());
    }
    if !context.forward_authorization {
        parts.headers.remove(header::AUTHORIZATION);
    }
    if let Some(identity) = context.identity {
        write_identity_headers(identity, &mut parts.headers);
    }
    append_forwarding(&mut parts.headers, &context);
    parts.headers.insert(
        HeaderName::from_static("x-request-id"),
        context.request_id.clone(),
    );
    parts.version = axum::http::Version::HTTP_11;
    let limit = usize::try_from(route.max_body_bytes).unwrap_or(usize::MAX);
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let started = Instant::now();
    let response = match tokio::time::timeout(
        route.timeout,
        route
            .client
            .current()
            .request(Request::from_parts(parts, body)),
    )
    .await
    {
        Err(_) => return Err(GatewayError::GatewayTimeout),
        Ok(Err(error)) => {
            if is_body_limit(&error) {
                return Err(GatewayError::BodyTooLarge);
            }
            tracing::warn!(route = %route.name, %error, "upstream request failed");
            return Err(GatewayError::BadGateway);
        }
        Ok(Ok(response)) => response,
    };
    let elapsed = started.elapsed();
    if response.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            // An upstream switching protocols that nobody asked for is a broken upstream.
            return Err(GatewayError::BadGateway);
        };
        let mut response = response;
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(splice(client_upgrade, upstream_upgrade, route.name.clone()));
        let (parts, _) = response.into_parts();
        return Ok((Response::from_parts(parts, Body::empty()), elapsed));
    }
    let (mut parts, body) = response.into_parts();
    remove_hop_by_hop(&mut parts.headers);
    Ok((Response::from_parts(parts, Body::new(body)), elapsed))
}

/// Joins the client's and the upstream's upgraded connections and copies bytes both ways until
/// either side closes.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    route: String,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%route, %error, "upgrade failed");
            return;
        }
    };
    let mut client = hyper_util::rt::TokioIo::new(client);
    let mut upstream = hyper_util::rt::TokioIo::new(upstream);
    if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        tracing::debug!(%route, %error, "upgraded connection ended");
    }
}
