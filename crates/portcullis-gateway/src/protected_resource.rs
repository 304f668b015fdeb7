//! OAuth 2.0 Protected Resource Metadata (RFC 9728): a route that names its resource identifier
//! serves a metadata document saying which authorization servers issue its tokens, with which
//! scopes and how they are presented, and its 401s point to that document, so a client (an MCP
//! client, for one) can find where to get a token with no configuration of its own.

use crate::config::{GatewayConfig, RouteConfig};
use crate::routes::RouteError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, Response, StatusCode, Uri, header};
use std::collections::HashMap;

/// The well-known path segment (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// A route's resource identifier and where its metadata is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceIdentifier {
    /// The identifier as configured: what tokens must carry in `aud` (RFC 8707).
    pub resource: String,
    /// Its host, lower case.
    host: String,
    /// Its path, without a lone `/`.
    path: String,
    /// The path its metadata is served at on this gateway.
    pub metadata_path: String,
    /// The metadata document's URL, for `WWW-Authenticate: Bearer resource_metadata="..."`.
    pub metadata_url: HeaderValue,
}

impl ResourceIdentifier {
    /// Parses `resource`: an absolute `http(s)` URL with no user information, query or fragment
    /// (RFC 8707 §2: no fragment, and a query is discouraged; RFC 9728 §3.1 inserts the
    /// well-known segment between the host and the path), whose path is already in the form a
    /// request's is matched in (no `%`, empty, `.` or `..` segments), so its metadata can be
    /// reached.
    ///
    /// # Errors
    /// Why it cannot be a resource identifier.
    pub fn parse(resource: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "resource `{resource}` must be an http(s) URL with no user, query, fragment, \
                 percent-encoding or dot segments"
            )
        };
        // RFC 3986 unreserved and sub-delimiters, `:` and `/` only: nothing that could close
        // the quoted `resource_metadata` parameter or need decoding.
        let plain = resource
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:/".contains(c));
        if !plain {
            return Err(invalid());
        }
        let uri: Uri = resource.parse().map_err(|_| invalid())?;
        let scheme = uri.scheme_str().filter(|s| matches!(*s, "http" | "https"));
        let (Some(scheme), Some(authority)) = (scheme, uri.authority()) else {
            return Err(invalid());
        };
        // §3.1: a terminating slash right after the host is removed before inserting.
        let path = match uri.path() {
            "/" => "",
            path => path,
        };
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let last = segments.len().saturating_sub(1);
        let segments_plain = segments.iter().enumerate().all(|(index, segment)| {
            !matches!(*segment, "." | "..") && (index == last || !segment.is_empty())
        });
        if !segments_plain {
            return Err(invalid());
        }
        let metadata_path = format!("{WELL_KNOWN}{path}");
        let metadata_url = HeaderValue::from_str(&format!("{scheme}://{authority}{metadata_path}"))
            .map_err(|_| invalid())?;
        Ok(ResourceIdentifier {
            resource: resource.to_owned(),
            host: authority.host().to_ascii_lowercase(),
            path: path.to_owned(),
            metadata_path,
            metadata_url,
        })
    }

    /// Whether the identifier names what a route serves: its host (when the route names one)
    /// and a path that is the route's prefix or a parent of it (one identifier for a group of
    /// routes), so every URL the route serves lies under the identifier: what a client that
    /// called the route checks the metadata against (RFC 9728 §3.3; MCP clients compare the
    /// origin and the path prefix).
    pub fn names(&self, route_host: Option<&str>, route_prefix: &str) -> bool {
        let own = self.path.trim_end_matches('/');
        let covers_prefix = route_prefix
            .strip_prefix(own)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || own.is_empty());
        covers_prefix && route_host.is_none_or(|host| host.eq_ignore_ascii_case(&self.host))
    }
}

/// The metadata documents of every route with a resource identifier, by path. Served on any
/// host: two resources with one path (on different hosts) refuse to start.
#[derive(Debug, Default)]
pub struct ProtectedResources {
    documents: HashMap<String, Bytes>,
}

impl ProtectedResources {
    /// The documents of `config`'s routes that name a resource.
    ///
    /// Routes naming the same identifier share one document (a route group).
    ///
    /// # Errors
    /// A malformed resource, or two different resources whose documents would be served at
    /// one path.
    pub fn build(config: &GatewayConfig) -> Result<Self, RouteError> {
        let mut groups: HashMap<String, (String, Vec<&RouteConfig>)> = HashMap::new();
        for route in &config.routes {
            let Some(resource) = &route.resource else {
                continue;
            };
            let identifier = ResourceIdentifier::parse(resource).map_err(|problem| RouteError {
                route: route.name.clone(),
                problem,
            })?;
            let (resource, routes) = groups
                .entry(identifier.metadata_path)
                .or_insert_with(|| (identifier.resource.clone(), Vec::new()));
            if *resource != identifier.resource {
                return Err(RouteError {
                    route: route.name.clone(),
                    problem: format!(
                        "resource `{}` has its metadata where `{resource}` has it",
                        identifier.resource
                    ),
                });
            }
            routes.push(route);
        }
        let mut documents = HashMap::new();
        for (path, (resource, routes)) in groups {
            let document =
                serde_json::to_vec(&document(config, &routes, &resource)).map_err(|error| {
                    RouteError {
                        route: resource.clone(),
                        problem: error.to_string(),
                    }
                })?;
            documents.insert(path, Bytes::from(document));
        }
        Ok(ProtectedResources { documents })
    }

    /// The JSON document served at `path`, if a route's metadata lives there.
    pub fn document(&self, path: &str) -> Option<&Bytes> {
        if self.documents.is_empty() || !path.starts_with(WELL_KNOWN) {
            return None;
        }
        self.documents.get(path)
    }
}

/// The answer to a request for a metadata `document`: the JSON to `GET` (and `HEAD`), public and
/// cacheable for five minutes, readable by any origin's scripts (it holds nothing secret, and
/// browser-based clients read it: `OPTIONS` answers their preflight); 405 to other methods.
pub fn metadata_response(method: &Method, document: &Bytes) -> Response<Body> {
    let readable_by_any_origin = (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    let (status, body, headers) = if method == Method::GET || method == Method::HEAD {
        (
            StatusCode::OK,
            Body::from(document.clone()),
            vec![
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "public, max-age=300"),
                readable_by_any_origin,
            ],
        )
    } else if method == Method::OPTIONS {
        (
            StatusCode::NO_CONTENT,
            Body::empty(),
            vec![
                readable_by_any_origin,
                (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD"),
                (header::ACCESS_CONTROL_ALLOW_HEADERS, "*"),
                (header::ACCESS_CONTROL_MAX_AGE, "300"),
            ],
        )
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            Body::empty(),
            vec![(header::ALLOW, "GET, HEAD, OPTIONS")],
        )
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers
        .into_iter()
        .chain([(header::X_CONTENT_TYPE_OPTIONS, "nosniff")])
    {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// RFC 9728 §5.1: adds `resource_metadata="<url>"` to the challenge of a refused request, so
/// the client learns where to find the authorization server.
pub fn point_to_metadata(response: &mut Response<Body>, url: &HeaderValue) {
    let Some(challenge) = response.headers().get(header::WWW_AUTHENTICATE) else {
        return;
    };
    let mut value = challenge.as_bytes().to_vec();
    value.extend_from_slice(b", resource_metadata=\"");
    value.extend_from_slice(url.as_bytes());
    value.push(b'"');
    if let Ok(value) = HeaderValue::from_bytes(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
}

/// RFC 9728 §2: the metadata of `routes`, whose identifier is `resource`: the scopes any of them
/// asks for or offers; DPoP-bound tokens required when all of them require them.
fn document(config: &GatewayConfig, routes: &[&RouteConfig], resource: &str) -> serde_json::Value {
    let mut scopes: Vec<&String> = Vec::new();
    for scope in routes.iter().flat_map(|route| {
        route
            .scopes_all
            .iter()
            .chain(&route.scopes_any)
            .chain(&route.resource_scopes)
    }) {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    let mut metadata = serde_json::json!({
        // §3.3: identical to the identifier the metadata URL was made from.
        "resource": resource,
        "authorization_servers": config
            .issuers
            .iter()
            .map(|issuer| issuer.issuer.as_str())
            .collect::<Vec<_>>(),
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": portcullis_jose::Algorithm::ALL
            .iter()
            .map(|alg| alg.as_str())
            .collect::<Vec<_>>(),
    });
    if !scopes.is_empty() {
        metadata["scopes_supported"] = serde_json::json!(scopes);
    }
    if routes.iter().all(|route| route.require_dpop) {
        metadata["dpop_bound_access_tokens_required"] = true.into();
    }
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_segment_goes_between_the_host_and_the_path() {
        let mcp = ResourceIdentifier::parse("https://api.example.com/mcp").expect("valid");
        assert_eq!(
            mcp.metadata_path,
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            mcp.metadata_url,
            "https://api.example.com/.well-known/oauth-protected-resource/mcp"
        );
        for root in ["https://api.example.com", "https://api.example.com/"] {
            let parsed = ResourceIdentifier::parse(root).expect("valid");
            assert_eq!(parsed.metadata_path, WELL_KNOWN);
            assert_eq!(parsed.resource, root, "kept as configured");
        }
        let local = ResourceIdentifier::parse("http://127.0.0.1:4000/products").expect("valid");
        assert_eq!(
            local.metadata_url,
            "http://127.0.0.1:4000/.well-known/oauth-protected-resource/products"
        );
    }

    #[test]
    fn an_identifier_covers_its_routes_prefix_or_names_a_parent_of_it() {
        let api = ResourceIdentifier::parse("https://api.example.com/api").expect("valid");
        assert!(api.names(None, "/api"));
        assert!(
            api.names(None, "/api/orders"),
            "a group of routes under /api"
        );
        assert!(api.names(Some("API.example.com"), "/api"));
        assert!(!api.names(None, "/apis"), "segment boundaries");
        assert!(
            !api.names(None, "/"),
            "a route serving more than the resource"
        );
        assert!(!api.names(Some("other.example.com"), "/api"));
        let root = ResourceIdentifier::parse("https://api.example.com/").expect("valid");
        assert!(root.names(None, "/anything"));
    }

    #[test]
    fn identifiers_that_are_not_plain_urls_are_refused() {
        for bad in [
            "api",
            "https://api.example.com/m%63p",
            "https://api.example.com//mcp",
            "https://api.example.com/a/../mcp",
            "https://api.example.com/./mcp",
            "https://api.example.com/mcp\",scope=\"admin",
            "https://api.example.com/m cp",
            "/mcp",
            "ftp://api.example.com/mcp",
            "https://api.example.com/mcp#part",
            "https://api.example.com/mcp?tenant=1",
            "https://user@api.example.com/mcp",
            "urn:example:api",
        ] {
            assert!(ResourceIdentifier::parse(bad).is_err(), "{bad}");
        }
    }
}
