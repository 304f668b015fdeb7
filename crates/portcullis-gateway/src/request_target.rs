//! The request target, settled before routing: the path normalized ([`crate::path`]) and written
//! back into the request, so the route is chosen on the path that is forwarded; and the one host
//! the request names, from the request target or the single `Host` header.

use crate::path::{PathRejection, normalize};
use axum::extract::Request;
use axum::http::uri::{Authority, PathAndQuery};
use axum::http::{HeaderValue, Uri, Version, header};
use std::borrow::Cow;
use std::str::FromStr;
use thiserror::Error;

/// The origin `url` names (`https://host[:port]`, normalized), if it is one: scheme and
/// authority, at most a `/` after them.
pub fn origin(url: &str) -> Option<String> {
    portcullis_jose::dpop::normalize_htu(url)
        .filter(|normal| normal.matches('/').count() == 3 && !url.contains(['?', '#']))
        .and_then(|normal| normal.strip_suffix('/').map(str::to_owned))
}

/// Why a request target is refused (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TargetRejection {
    /// The path cannot be normalized safely.
    #[error(transparent)]
    Path(#[from] PathRejection),
    /// RFC 9112 §3.2: more than one `Host`, an invalid one, or none in an HTTP/1.1 request.
    #[error("the request needs exactly one valid Host header")]
    Host,
    /// RFC 9113 §8.3.1: `:authority` and `Host` name different hosts.
    #[error("the Host header differs from the request's authority")]
    ConflictingHost,
}

/// What routing needs of the target, beside the request's (now normalized) path.
#[derive(Debug)]
pub struct Target {
    /// The host, lower case, without port or trailing dot.
    pub host: Option<String>,
    /// The path routes match on, when it differs from the request's path (`;` parameters).
    pub matching_path: Option<String>,
    /// The path keeps an encoded separator that only opted-in routes accept.
    pub keeps_encoded_separators: bool,
}

/// Normalizes `request`'s path in place and settles its host; the host is returned (for routing)
/// only when `route_by_host`, which spares its copy when no route names a host.
///
/// # Errors
/// [`TargetRejection`].
pub fn settle(request: &mut Request, route_by_host: bool) -> Result<Target, TargetRejection> {
    let normalized = normalize(request.uri().path())?;
    let keeps_encoded_separators = normalized.keeps_encoded_separators();
    let matching_path = (normalized.for_matching() != normalized.as_str())
        .then(|| normalized.for_matching().to_owned());
    if let Cow::Owned(path) = normalized.into_path() {
        rewrite_path(request.uri_mut(), &path)?;
    }
    let host = settle_host(request, route_by_host)?;
    Ok(Target {
        host,
        matching_path,
        keeps_encoded_separators,
    })
}

fn rewrite_path(uri: &mut Uri, path: &str) -> Result<(), PathRejection> {
    let path_and_query = match uri.query() {
        Some(query) => PathAndQuery::from_str(&format!("{path}?{query}")),
        None => PathAndQuery::from_str(path),
    }
    .map_err(|_| PathRejection::MalformedEncoding)?;
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(path_and_query);
    *uri = Uri::from_parts(parts).map_err(|_| PathRejection::MalformedEncoding)?;
    Ok(())
}

/// The host of the request. The request target's authority wins over `Host` (RFC 9112 §3.2.2)
/// and is written into `Host`, so the upstream is told the host that was routed on.
fn settle_host(
    request: &mut Request,
    route_by_host: bool,
) -> Result<Option<String>, TargetRejection> {
    let mut values = request.headers().get_all(header::HOST).iter();
    let header_value = values.next().cloned();
    if values.next().is_some() {
        return Err(TargetRejection::Host);
    }
    let authority = match (request.uri().authority().cloned(), header_value) {
        (Some(target), header_value) => {
            let differs = header_value.is_some_and(|value| {
                !value
                    .as_bytes()
                    .eq_ignore_ascii_case(target.as_str().as_bytes())
            });
            if request.version() == Version::HTTP_2 && differs {
                return Err(TargetRejection::ConflictingHost);
            }
            replace_host(request, &target)?;
            target
        }
        (None, Some(_)) if !route_by_host => return Ok(None),
        (None, Some(value)) => host_authority(value.as_bytes()).ok_or(TargetRejection::Host)?,
        (None, None) if request.version() == Version::HTTP_11 => {
            return Err(TargetRejection::Host);
        }
        (None, None) => return Ok(None),
    };
    if !route_by_host {
        return Ok(None);
    }
    let host = authority.host();
    let host = host.strip_suffix('.').unwrap_or(host);
    Ok(Some(host.to_ascii_lowercase()))
}

/// A `Host` value: `host[:port]`, without user information.
fn host_authority(value: &[u8]) -> Option<Authority> {
    let authority = Authority::try_from(value).ok()?;
    (!authority.as_str().contains('@') && !authority.host().is_empty()).then_some(authority)
}

fn replace_host(request: &mut Request, authority: &Authority) -> Result<(), TargetRejection> {
    if authority.as_str().contains('@') {
        return Err(TargetRejection::Host);
    }
    let value = HeaderValue::from_str(authority.as_str()).map_err(|_| TargetRejection::Host)?;
    request.headers_mut().insert(header::HOST, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(target: &str, version: Version, hosts: &[&str]) -> Request {
        let mut builder = axum::http::Request::builder().uri(target).version(version);
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder.body(Body::empty()).expect("request")
    }

    #[test]
    fn the_path_is_rewritten_and_the_query_kept() {
        let mut plain = request("/public/../admin/x?a=%2e", Version::HTTP_11, &["gw"]);
        let target = settle(&mut plain, true).expect("valid");
        assert_eq!(plain.uri().to_string(), "/admin/x?a=%2e");
        assert_eq!(target.host.as_deref(), Some("gw"));
        assert!(target.matching_path.is_none());
        let mut with_parameters = request("/admin;x/y", Version::HTTP_11, &["gw"]);
        let target = settle(&mut with_parameters, true).expect("valid");
        assert_eq!(with_parameters.uri().path(), "/admin;x/y");
        assert_eq!(target.matching_path.as_deref(), Some("/admin/y"));
    }

    #[test]
    fn one_host_is_named_and_it_is_the_targets() {
        let mut absolute = request(
            "http://API.example./users",
            Version::HTTP_11,
            &["other.example"],
        );
        let target = settle(&mut absolute, true).expect("valid");
        assert_eq!(target.host.as_deref(), Some("api.example"));
        assert_eq!(absolute.headers()[header::HOST], "API.example.");
        let mut port = request("/x", Version::HTTP_11, &["Gw.Example:8080"]);
        assert_eq!(
            settle(&mut port, true).expect("valid").host.as_deref(),
            Some("gw.example")
        );
        for (target, version, hosts, rejection) in [
            (
                "/x",
                Version::HTTP_11,
                &["a", "b"][..],
                TargetRejection::Host,
            ),
            ("/x", Version::HTTP_11, &[][..], TargetRejection::Host),
            (
                "/x",
                Version::HTTP_11,
                &["user@a"][..],
                TargetRejection::Host,
            ),
            ("/x", Version::HTTP_11, &["a b"][..], TargetRejection::Host),
            (
                "http://a/x",
                Version::HTTP_2,
                &["b"][..],
                TargetRejection::ConflictingHost,
            ),
        ] {
            let mut request = request(target, version, hosts);
            assert_eq!(
                settle(&mut request, true).err(),
                Some(rejection),
                "{target} {hosts:?}"
            );
        }
        let mut old = request("/x", Version::HTTP_10, &[]);
        assert_eq!(settle(&mut old, true).expect("valid").host, None);
        let mut unrouted = request("/x", Version::HTTP_11, &["Gw"]);
        assert_eq!(
            settle(&mut unrouted, false).expect("valid").host,
            None,
            "not needed"
        );
        let mut twice = request("/x", Version::HTTP_11, &["a", "b"]);
        assert_eq!(settle(&mut twice, false).err(), Some(TargetRejection::Host));
    }
}
