//! Forwarding to the upstream: pooled keep-alive connections, bodies streamed both ways (never
//! buffered), hop-by-hop headers removed (RFC 9110 §7.6.1), `Forwarded`/`X-Forwarded-*` appended,
//! and failures mapped by source: unreachable upstream 502, slow upstream 504.

use crate::error::GatewayError;
use crate::identity::AssertedIdentity;
use crate::routes::Route;
use crate::upstream::{self, Upstream, UpstreamError};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri, header};
use hyper::body::Body as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// RFC 9110 §7.6.1: connection-specific headers that must not be forwarded (`Connection`
/// first).
const HOP_BY_HOP_COUNT: usize = 8;
static HOP_BY_HOP: [HeaderName; HOP_BY_HOP_COUNT] = [
    HeaderName::from_static("connection"),
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("te"),
    HeaderName::from_static("trailer"),
    HeaderName::from_static("transfer-encoding"),
    HeaderName::from_static("upgrade"),
    HeaderName::from_static("proxy-authorization"),
];

/// The position of `name` in [`HOP_BY_HOP`]. A match on the text dispatches on its length
/// first, so most names are ruled out by one comparison (comparing with each entry in turn cost
/// 2% of the proxy's instructions).
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    match name.as_str() {
        "connection" => Some(0),
        "keep-alive" => Some(1),
        "proxy-connection" => Some(2),
        "te" => Some(3),
        "trailer" => Some(4),
        "transfer-encoding" => Some(5),
        "upgrade" => Some(6),
        "proxy-authorization" => Some(7),
        _ => None,
    }
}

/// The headers a `Connection` header names beyond the hop-by-hop ones. Usually none: a
/// message says `keep-alive` or `close`, so the tokens are compared as bytes and a list is made
/// only when a name is found (collecting them as text cost 1.7% of the proxy's instructions).
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut named = Vec::new();
    for value in headers.get_all(header::CONNECTION) {
        for token in value.as_bytes().split(|byte| *byte == b',') {
            let token = token.trim_ascii();
            let listed = token.is_empty()
                || token.eq_ignore_ascii_case(b"close")
                || HOP_BY_HOP
                    .iter()
                    .any(|hop| token.eq_ignore_ascii_case(hop.as_str().as_bytes()));
            if listed {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                named.push(name);
            }
        }
    }
    named
}

/// The protocol the request asks to switch to (RFC 9110 §7.8), e.g. WebSocket, if the route
/// allows it. Any other upgrade is dropped with the hop-by-hop headers and the request forwarded
/// as an ordinary one (a server may ignore `Upgrade`), so `h2c` cannot tunnel past the gateway.
fn upgrade_protocol(route: &Route, headers: &HeaderMap) -> Option<HeaderValue> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let mut offers = headers.get_all(header::UPGRADE).iter();
    let offer = offers.next()?;
    let allowed = connection_upgrade
        && offers.next().is_none()
        && offer.to_str().is_ok_and(|protocols| {
            protocols
                .split(',')
                .all(|protocol| route.allows_upgrade(protocol))
        });
    allowed.then(|| offer.clone())
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names finds the few present (most requests carry none, a response
    // usually `Connection: keep-alive`), so only those are looked up again.
    let mut present = [false; HOP_BY_HOP_COUNT];
    for name in headers.keys() {
        if let Some(index) = hop_by_hop_index(name) {
            present[index] = true;
        }
    }
    if !present.contains(&true) {
        return;
    }
    // RFC 9110 §7.6.1: so are the headers the `Connection` header names (beyond the listed ones,
    // removed below).
    if present[0] {
        let named = connection_named(headers);
        for name in named {
            headers.remove(name);
        }
    }
    for (name, _) in HOP_BY_HOP
        .iter()
        .zip(present)
        .filter(|(_, present)| *present)
    {
        headers.remove(name);
    }
}

/// The address that connected to the gateway, as text made once per connection: every request
/// adds it to `X-Forwarded-For` and `Forwarded`.
#[derive(Debug)]
pub struct Peer {
    /// The address.
    pub ip: IpAddr,
    text: HeaderValue,
}

impl Peer {
    /// The peer at `ip`.
    pub fn new(ip: IpAddr) -> Self {
        let text = HeaderValue::try_from(ip.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Peer { ip, text }
    }

    fn text(&self) -> &str {
        self.text.to_str().unwrap_or_default()
    }
}

/// What the proxy needs to know about the request beyond the request itself.
#[derive(Debug)]
pub struct ForwardContext<'a> {
    /// The matched route.
    pub route: &'a Route,
    /// The authenticated caller, if the route requires one.
    pub identity: Option<&'a AssertedIdentity>,
    /// The address that connected to the gateway: what this hop adds to `X-Forwarded-For` and
    /// `Forwarded: for=` (RFC 7239 §5.2), whether or not it is a trusted proxy.
    pub peer: &'a Peer,
    /// Whether the peer is a trusted proxy whose `X-Forwarded-*` headers are kept.
    pub peer_trusted: bool,
    /// Keep `Authorization` for the backend.
    pub forward_authorization: bool,
    /// The header API keys may come in (removed with `Authorization`).
    pub api_key_header: Option<&'a HeaderName>,
    /// The request id.
    pub request_id: &'a HeaderValue,
}

/// The request id's header, read from clients and sent both ways.
pub use portcullis_sdk::request_id::X_REQUEST_ID;
/// `X-Forwarded-For`, whose chain the client address is read from.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

fn text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Every line of a list header as one list (RFC 9110 §5.3), so a chain split over several lines
/// is extended whole, as the client address is read from it.
fn list<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<std::borrow::Cow<'h, str>> {
    let mut lines = headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok());
    let first = lines.next()?;
    let Some(second) = lines.next() else {
        return Some(first.into());
    };
    let mut joined = [first, second].join(", ");
    for line in lines {
        joined.push_str(", ");
        joined.push_str(line);
    }
    Some(joined.into())
}

fn insert_text(headers: &mut HeaderMap, name: HeaderName, value: String) {
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(name, value);
    }
}

/// `previous, element`, or `element` alone.
fn extended(previous: Option<&str>, element: &str) -> String {
    match previous {
        Some(previous) => [previous, ", ", element].concat(),
        None => element.to_owned(),
    }
}

fn append_forwarding(headers: &mut HeaderMap, context: &ForwardContext<'_>) {
    // The Host value is shared, not copied, by the headers that repeat it.
    let host = headers
        .get(header::HOST)
        .filter(|value| value.to_str().is_ok())
        .cloned()
        .unwrap_or(HeaderValue::from_static(""));
    let http = HeaderValue::from_static("http");
    let peer = context.peer;
    if context.peer_trusted {
        let chain = extended(list(headers, &X_FORWARDED_FOR).as_deref(), peer.text());
        insert_text(headers, X_FORWARDED_FOR, chain);
        if text(headers, &X_FORWARDED_PROTO).is_none() {
            headers.insert(X_FORWARDED_PROTO, http);
        }
        if text(headers, &X_FORWARDED_HOST).is_none() {
            headers.insert(X_FORWARDED_HOST, host.clone());
        }
    } else {
        // RFC 7239 §5.2: values from untrusted peers are replaced, not extended.
        headers.insert(X_FORWARDED_FOR, peer.text.clone());
        headers.insert(X_FORWARDED_PROTO, http);
        headers.insert(X_FORWARDED_HOST, host.clone());
        headers.remove(header::FORWARDED);
    }
    // RFC 7239 §4, §6: an IPv6 node is quoted and bracketed; the host is a quoted string.
    let host = host.to_str().unwrap_or_default();
    let (open, close) = match peer.ip {
        IpAddr::V6(_) => ("for=\"[", "]\""),
        IpAddr::V4(_) => ("for=", ""),
    };
    let mut element = String::with_capacity(40 + host.len());
    element.push_str(open);
    element.push_str(peer.text());
    element.push_str(close);
    element.push_str(";proto=http;host=\"");
    for part in host.split('"') {
        element.push_str(part);
    }
    element.push('"');
    let forwarded = extended(list(headers, &header::FORWARDED).as_deref(), &element);
    insert_text(headers, header::FORWARDED, forwarded);
}

/// The upstream to send to, and the request target in origin form (RFC 9112 §3.2.1).
fn upstream_target<'r>(route: &'r Route, uri: &Uri) -> Result<(&'r Upstream, Uri), GatewayError> {
    let upstream = route.next_upstream().ok_or(GatewayError::NoRoute)?;
    let path = route.upstream_path(uri.path());
    let mut target = String::with_capacity(64);
    target.push_str(upstream.base_path());
    if !path.starts_with('/') {
        target.push('/');
    }
    target.push_str(path);
    if let Some(query) = uri.query() {
        target.push('?');
        target.push_str(query);
    }
    let target = target.parse().map_err(|_| GatewayError::BadGateway)?;
    Ok((upstream, target))
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
    let (upstream, target) = upstream_target(route, &parts.uri)?;
    parts.uri = target;
    let upgrade = upgrade_protocol(route, &parts.headers);
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
        if let Some(name) = context.api_key_header {
            parts.headers.remove(name);
        }
    }
    // Room for what is added below (identity, forwarding, request id, host), so the map grows
    // once, not header by header.
    parts.headers.reserve(10);
    if let Some(identity) = context.identity {
        identity.write_headers(&mut parts.headers);
    }
    append_forwarding(&mut parts.headers, &context);
    parts
        .headers
        .insert(X_REQUEST_ID, context.request_id.clone());
    // An HTTP/2 client names the host in the request target, not in a header (RFC 9113
    // §8.3.1); HTTP/1.1 requires the header (RFC 9112 §3.2).
    parts
        .headers
        .entry(header::HOST)
        .or_insert_with(|| upstream.host().clone());
    parts.version = axum::http::Version::HTTP_11;
    // A request without a body (most) needs no limit wrapper.
    let body = if body.is_end_stream() {
        Body::empty()
    } else {
        let limit = usize::try_from(route.max_body_bytes).unwrap_or(usize::MAX);
        Body::new(http_body_util::Limited::new(body, limit))
    };
    let started = Instant::now();
    let mut response = match tokio::time::timeout(
        route.timeout,
        upstream::send(
            upstream,
            route.connect_timeout,
            Request::from_parts(parts, body),
        ),
    )
    .await
    {
        Err(_) => return Err(GatewayError::GatewayTimeout),
        Ok(Err(UpstreamError::Http(error))) if is_body_limit(&error) => {
            return Err(GatewayError::BodyTooLarge);
        }
        Ok(Err(UpstreamError::Overloaded(_))) => return Err(GatewayError::UpstreamOverloaded),
        Ok(Err(error)) => {
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
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(splice(client_upgrade, upstream_upgrade, route.name.clone()));
        let (parts, _) = response.into_parts();
        return Ok((Response::from_parts(parts, Body::empty()), elapsed));
    }
    remove_hop_by_hop(response.headers_mut());
    Ok((response, elapsed))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        for (index, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(index), "{name}");
        }
        let mut headers = HeaderMap::new();
        for name in &HOP_BY_HOP {
            headers.insert(name, HeaderValue::from_static("x"));
        }
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("Keep-Alive, X-Private"),
        );
        headers.insert("x-private", HeaderValue::from_static("secret"));
        headers.insert(header::HOST, HeaderValue::from_static("example.com"));
        headers.insert("x-kept", HeaderValue::from_static("kept"));
        remove_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["host", "x-kept"]);
    }
}
