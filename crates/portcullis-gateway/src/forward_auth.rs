//! The forward-auth endpoint: a proxy in front (nginx `auth_request`, Traefik ForwardAuth, Caddy
//! `forward_auth`, Envoy `ext_authz` over HTTP) asks whether a request may pass, and the gateway
//! answers from the same pipeline as when it proxies: the route's policy, the revocation set, the
//! rate limits. 200 carries the identity headers (and, with `forward_authorization`, the token)
//! for the proxy to hand to its upstream; a refusal is the same 401/403/429 (with the RFC 6750
//! challenge) the gateway would send itself, or, for a browser without a session on a session
//! route, a redirect to sign in (302; 401 with `Location` to nginx).
//!
//! The original request is described by, in this order:
//! - `X-Original-URI` and `X-Original-Method` (the nginx recipe);
//! - `X-Forwarded-Uri` and `X-Forwarded-Method` (Traefik, Caddy);
//! - the request itself, its path after `/_portcullis/auth` (Envoy, whose `path_prefix` puts the
//!   original path behind it and keeps the original method).
//!
//! Its host is `X-Forwarded-Host`, else `Host`. The endpoint trusts these headers, so only the
//! proxies in front may reach its listener (`forward_auth_listen`); `X-Forwarded-For` and
//! `-Proto` count, as on the public listener, only from `trusted_proxies`.

use crate::pipeline::{Gateway, Mode, handle_as};
use crate::proxy::Peer;
use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use thiserror::Error;

/// The endpoint's path; Envoy appends the original path to it.
pub const PATH: &str = "/_portcullis/auth";

const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Which kind of proxy asked, told by how it described the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// nginx `auth_request` (`X-Original-*`): it understands only 2xx, 401 and 403, so a browser
    /// sent to sign in is told by 401 with a `Location` its recipe turns into a redirect.
    Nginx,
    /// Traefik, Caddy or Envoy, which hand any refusal to the client as it is: a 302.
    RelaysRefusals,
}

/// Why a forward-auth request does not describe a request to decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DescriptionError {
    /// Not the endpoint's path: 404.
    #[error("the forward-auth endpoint is {PATH}")]
    NotTheEndpoint,
    /// No original request named, or named twice, or half of it: 400.
    #[error(
        "describe the original request with X-Original-URI and X-Original-Method, \
         X-Forwarded-Uri and X-Forwarded-Method, or a path after {PATH}"
    )]
    Undescribed,
    /// The original target is not a path with an optional query: 400.
    #[error("the original request's URI must be a path with an optional query, no fragment")]
    BadUri,
    /// The original method is not a method: 400.
    #[error("the original request's method is not a valid method")]
    BadMethod,
    /// The original host is missing (a description by headers needs `X-Forwarded-Host`),
    /// repeated, empty or a list: 400.
    #[error("the original request needs exactly one valid host (X-Forwarded-Host)")]
    BadHost,
}

impl IntoResponse for DescriptionError {
    fn into_response(self) -> Response {
        let status = match self {
            DescriptionError::NotTheEndpoint => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        let body = json!({"error": "invalid_request", "error_description": self.to_string()});
        let mut response = (status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The value of `name`, if the request carries it exactly once.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, DescriptionError> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value)),
        (Some(_), Some(_)) => Err(DescriptionError::Undescribed),
    }
}

/// The method and target the headers `uri`/`method` name, when the request has them; both or
/// neither.
fn described_by(
    headers: &HeaderMap,
    uri: &HeaderName,
    method: &HeaderName,
) -> Result<Option<(Method, PathAndQuery)>, DescriptionError> {
    match (single(headers, uri)?, single(headers, method)?) {
        (None, None) => Ok(None),
        (Some(uri), Some(method)) => Ok(Some((
            Method::from_bytes(method.as_bytes()).map_err(|_| DescriptionError::BadMethod)?,
            origin_form(uri.as_bytes())?,
        ))),
        _ => Err(DescriptionError::Undescribed),
    }
}

/// A request target in origin form (RFC 9112 §3.2.1): a path, then an optional query. A
/// fragment is refused, not cut off: nginx forwards what follows `#` to its upstream.
fn origin_form(target: &[u8]) -> Result<PathAndQuery, DescriptionError> {
    if target.first() != Some(&b'/') || target.contains(&b'#') {
        return Err(DescriptionError::BadUri);
    }
    PathAndQuery::try_from(target).map_err(|_| DescriptionError::BadUri)
}

/// The request a forward-auth request describes: the original method, target and host, with
/// the forward-auth request's other headers (the credentials among them) and no body.
///
/// # Errors
/// [`DescriptionError`].
pub fn described_request(request: &Request) -> Result<Request, DescriptionError> {
    let uri = request.uri();
    let suffix = uri
        .path()
        .strip_prefix(PATH)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        .ok_or(DescriptionError::NotTheEndpoint)?;
    let headers = request.headers();
    let original = described_by(headers, &X_ORIGINAL_URI, &X_ORIGINAL_METHOD)?;
    let forwarded = described_by(headers, &X_FORWARDED_URI, &X_FORWARDED_METHOD)?;
    // Exactly one description: a proxy that passes the client's headers on (Traefik, Caddy)
    // would otherwise let a client add a description of a request it is not making.
    let asker = if original.is_some() {
        Asker::Nginx
    } else {
        Asker::RelaysRefusals
    };
    let (method, target) = match (original, forwarded, suffix.is_empty()) {
        (Some(described), None, true) | (None, Some(described), true) => {
            // The proxy names the host the client asked for; the forward-auth request's own
            // `Host` is the gateway's.
            if single(headers, &X_FORWARDED_HOST)?.is_none() {
                return Err(DescriptionError::BadHost);
            }
            described
        }
        (None, None, false) => {
            let target = match uri.query() {
                Some(query) => format!("{suffix}?{query}"),
                None => suffix.to_owned(),
            };
            (request.method().clone(), origin_form(target.as_bytes())?)
        }
        _ => return Err(DescriptionError::Undescribed),
    };
    // Over HTTP/2 (Envoy) the host is the request's authority.
    let authority = uri
        .authority()
        .and_then(|authority| HeaderValue::from_str(authority.as_str()).ok());
    let host = match single(headers, &X_FORWARDED_HOST)? {
        Some(host) => host.clone(),
        None => single(headers, &header::HOST)?
            .cloned()
            .or(authority)
            .ok_or(DescriptionError::BadHost)?,
    };
    if host.is_empty() || host.as_bytes().contains(&b',') {
        return Err(DescriptionError::BadHost);
    }
    let mut described = Request::new(Body::empty());
    described.extensions_mut().insert(asker);
    *described.method_mut() = method;
    *described.uri_mut() = Uri::from(target);
    let described_headers = described.headers_mut();
    for (name, value) in headers {
        let describing = [
            &X_ORIGINAL_URI,
            &X_ORIGINAL_METHOD,
            &X_FORWARDED_URI,
            &X_FORWARDED_METHOD,
            &X_FORWARDED_HOST,
            &header::HOST,
            &header::CONTENT_LENGTH,
            &header::TRANSFER_ENCODING,
        ]
        .contains(&name);
        if !describing {
            described_headers.append(name, value.clone());
        }
    }
    // The host names the request for routing, and for DPoP proofs its URL (behind a trusted
    // proxy, as on the public listener).
    described_headers.insert(X_FORWARDED_HOST, host.clone());
    described_headers.insert(header::HOST, host);
    Ok(described)
}

/// Answers one forward-auth request from `peer`: the pipeline's decision on the request it
/// describes, never cached by the proxy.
pub async fn answer(gateway: &Gateway, peer: &Peer, request: Request) -> Response {
    let mut response = match described_request(&request) {
        Ok(described) => handle_as(gateway, peer, described, Mode::Decide).await,
        Err(error) => error.into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut request = Request::builder()
            .uri(uri)
            .header("host", "gateway.internal");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::empty()).expect("request")
    }

    fn described(request: &Request) -> (String, String, String) {
        let described = described_request(request).expect("described");
        (
            described.method().to_string(),
            described.uri().to_string(),
            described.headers()["host"]
                .to_str()
                .expect("host")
                .to_owned(),
        )
    }

    #[test]
    fn each_proxy_describes_the_original_request_its_own_way() {
        let nginx = asking(
            PATH,
            &[
                ("x-original-uri", "/api/orders?id=7"),
                ("x-original-method", "DELETE"),
                ("x-forwarded-host", "shop.example"),
                ("authorization", "Bearer t"),
            ],
        );
        assert_eq!(
            described(&nginx),
            (
                "DELETE".into(),
                "/api/orders?id=7".into(),
                "shop.example".into()
            )
        );
        let forwarded = described_request(&nginx).expect("described");
        assert_eq!(forwarded.headers()["authorization"], "Bearer t");
        assert!(forwarded.headers().get("x-original-uri").is_none());
        let traefik = asking(
            PATH,
            &[
                ("x-forwarded-uri", "/api"),
                ("x-forwarded-method", "POST"),
                ("x-forwarded-host", "shop.example"),
            ],
        );
        assert_eq!(
            described(&traefik),
            ("POST".into(), "/api".into(), "shop.example".into())
        );
        let envoy = asking("/_portcullis/auth/api/orders?id=7", &[]);
        assert_eq!(
            described(&envoy),
            (
                "GET".into(),
                "/api/orders?id=7".into(),
                "gateway.internal".into()
            )
        );
    }

    #[test]
    fn doubtful_descriptions_are_refused() {
        let refused = |request: Request| described_request(&request).err();
        assert_eq!(
            refused(asking("/other", &[])),
            Some(DescriptionError::NotTheEndpoint)
        );
        assert_eq!(
            refused(asking("/_portcullis/authz", &[])),
            Some(DescriptionError::NotTheEndpoint)
        );
        assert_eq!(
            refused(asking(PATH, &[])),
            Some(DescriptionError::Undescribed)
        );
        // A method is never guessed: a GET-only policy must not pass a DELETE.
        assert_eq!(
            refused(asking(PATH, &[("x-original-uri", "/api")])),
            Some(DescriptionError::Undescribed)
        );
        assert_eq!(
            refused(asking(
                "/_portcullis/auth/api",
                &[("x-original-uri", "/x"), ("x-original-method", "GET")]
            )),
            Some(DescriptionError::Undescribed)
        );
        let absolute = [
            ("x-original-uri", "http://evil.example/api"),
            ("x-original-method", "GET"),
        ];
        assert_eq!(
            refused(asking(PATH, &absolute)),
            Some(DescriptionError::BadUri)
        );
        let bad_method = [("x-original-uri", "/api"), ("x-original-method", "G T")];
        assert_eq!(
            refused(asking(PATH, &bad_method)),
            Some(DescriptionError::BadMethod)
        );
        let two_hosts = [
            ("x-forwarded-uri", "/api"),
            ("x-forwarded-method", "GET"),
            ("x-forwarded-host", "a.example, b.example"),
        ];
        assert_eq!(
            refused(asking(PATH, &two_hosts)),
            Some(DescriptionError::BadHost)
        );
        let injected = [
            ("x-original-uri", "/public/x"),
            ("x-original-method", "GET"),
            ("x-forwarded-uri", "/admin/users"),
            ("x-forwarded-method", "GET"),
            ("x-forwarded-host", "shop.example"),
        ];
        assert_eq!(
            refused(asking(PATH, &injected)),
            Some(DescriptionError::Undescribed),
            "a client's own description beside the proxy's"
        );
        let fragment = [
            ("x-original-uri", "/public#/../admin"),
            ("x-original-method", "GET"),
            ("x-forwarded-host", "shop.example"),
        ];
        assert_eq!(
            refused(asking(PATH, &fragment)),
            Some(DescriptionError::BadUri)
        );
        let hostless = [("x-original-uri", "/api"), ("x-original-method", "GET")];
        assert_eq!(
            refused(asking(PATH, &hostless)),
            Some(DescriptionError::BadHost),
            "the forward-auth request's own Host is not the original one"
        );
        let mut twice = asking(PATH, &[("x-original-method", "GET")]);
        for uri in ["/a", "/b"] {
            twice
                .headers_mut()
                .append("x-original-uri", HeaderValue::from_static(uri));
        }
        assert_eq!(refused(twice), Some(DescriptionError::Undescribed));
    }
}
