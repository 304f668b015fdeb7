//! The route table: host and longest path-prefix matching (on segment boundaries), upstream
//! selection round-robin, and each route's policy and limits.

use crate::config::{GatewayConfig, RouteConfig};
use crate::metrics::{Metrics, RouteMetrics};
use crate::policy::{Access, Requirements};
use crate::protected_resource::{ProtectedResources, ResourceIdentifier};
use crate::rate_limit::{RateLimitKey, RateLimitRule};
use crate::upstream::Upstream;
use crate::upstream_budget::UpstreamLimits;
use portcullis_tls::{ClientIdentity, ClientTls, TlsError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use thiserror::Error;

/// A configuration the gateway refuses to run with.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("route `{route}`: {problem}")]
pub struct RouteError {
    /// The route's name.
    pub route: String,
    /// What is wrong.
    pub problem: String,
}

/// One route, ready to serve.
#[derive(Debug)]
pub struct Route {
    /// Name, for metrics and logs.
    pub name: String,
    host: Option<String>,
    prefix: String,
    strip_prefix: bool,
    upstreams: Vec<Upstream>,
    next_upstream: AtomicUsize,
    /// Upstream connect timeout.
    pub connect_timeout: Duration,
    /// Time allowed for the upstream's response headers.
    pub timeout: Duration,
    /// Largest request body.
    pub max_body_bytes: u64,
    /// Who may pass.
    pub access: Access,
    /// Browsers may pass with a gateway session instead of a token ([`crate::session`]).
    pub session: bool,
    /// Rate limit.
    pub rate_limit: Option<RateLimitRule>,
    /// Accepts paths that keep an encoded `/` or `\` ([`crate::path`]).
    pub allow_encoded_slashes: bool,
    /// Protocols a request may upgrade to (RFC 9110 §7.8), lower case.
    upgrades: Vec<String>,
    /// Where the route's protected resource metadata is (RFC 9728 §5.1), for its challenges.
    pub resource_metadata: Option<axum::http::HeaderValue>,
    metrics: OnceLock<RouteMetrics>,
}

impl Route {
    fn build(
        config: &RouteConfig,
        tls: &mut ClientTlsCache,
        limits: UpstreamLimits,
    ) -> Result<Self, RouteError> {
        let fail = |problem: String| RouteError {
            route: config.name.clone(),
            problem,
        };
        let client_tls = ClientTls {
            ca_file: config
                .ca_file
                .clone()
                .or_else(|| tls.default_ca_file.clone()),
            identity: match (&config.client_cert_file, &config.client_key_file) {
                (None, None) => None,
                (Some(cert_file), Some(key_file)) => Some(ClientIdentity {
                    cert_file: cert_file.clone(),
                    key_file: key_file.clone(),
                }),
                _ => {
                    return Err(fail(
                        "set both client_cert_file and client_key_file, or neither".into(),
                    ));
                }
            },
        };
        let tls_profile = format!("{client_tls:?}");
        let mut tls_error = None;
        if !config.path_prefix.starts_with('/') {
            return Err(fail("path_prefix must start with /".into()));
        }
        let upstreams = config
            .upstreams
            .iter()
            .map(|upstream| {
                let client_config = || match tls.config(&client_tls) {
                    Ok(config) => Some(config),
                    Err(error) => {
                        tls_error = Some(error.to_string());
                        None
                    }
                };
                Upstream::parse(upstream, client_config, &tls_profile, limits).ok_or_else(|| {
                    match tls_error.take() {
                        Some(error) => fail(format!("upstream `{upstream}`: {error}")),
                        None => fail(format!(
                            "upstream `{upstream}` must be http(s)://host[:port][/path]"
                        )),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tls_settings = config.ca_file.is_some() || client_tls.identity.is_some();
        if tls_settings && upstreams.iter().any(|upstream| !upstream.is_tls()) {
            return Err(fail(
                "ca_file and client certificates apply to https:// upstreams only".into(),
            ));
        }
        if config.max_auth_age_secs.is_some_and(|age| age < 0) {
            return Err(fail("max_auth_age_secs cannot be negative".into()));
        }
        let resource = config
            .resource
            .as_deref()
            .map(ResourceIdentifier::parse)
            .transpose()
            .map_err(fail)?;
        if let Some(resource) = &resource {
            if config.audience.is_some() {
                return Err(fail(
                    "set audience or resource, not both: tokens for the resource carry it in aud"
                        .into(),
                ));
            }
            if !resource.names(config.host.as_deref(), &config.path_prefix) {
                return Err(fail(format!(
                    "resource `{}` must be on the route's host, its path the route's path_prefix or a parent of it",
                    resource.resource
                )));
            }
        }
        let authentication = portcullis_sdk::AuthenticationRequirement {
            acr_values: config.require_acr.clone(),
            amr: config.require_amr.clone(),
            max_age_secs: config.max_auth_age_secs,
        };
        let access = match config.auth.as_str() {
            "public" => {
                let has_requirements = !(config.scopes_all.is_empty()
                    && config.scopes_any.is_empty()
                    && config.roles_any.is_empty()
                    && config.roles_all.is_empty()
                    && config.audience.is_none()
                    && config.resource.is_none()
                    && !config.require_dpop
                    && config.issuers.is_empty()
                    && authentication.is_empty());
                if has_requirements {
                    return Err(fail(
                        "a public route cannot require scopes, roles, an audience or resource, \
                         DPoP, issuers or how the user authenticated"
                            .into(),
                    ));
                }
                Access::Public
            }
            "authenticated" => Access::Authenticated(Box::new(Requirements {
                scopes_all: config.scopes_all.clone(),
                scopes_any: config.scopes_any.clone(),
                roles_any: config.roles_any.clone(),
                roles_all: config.roles_all.clone(),
                audience: config.audience.clone(),
                resource: config.resource.clone(),
                dpop: config.require_dpop,
                authentication,
                issuers: config.issuers.clone(),
            })),
            other => {
                return Err(fail(format!(
                    "auth must be `public` or `authenticated`, not `{other}`"
                )));
            }
        };
        if config.session && access == Access::Public {
            return Err(fail(
                "session = true is for authenticated routes (a public one needs no sign-in)".into(),
            ));
        }
        let rate_limit = config
            .rate_limit
            .as_ref()
            .map(|limit| {
                let key = match limit.key.as_str() {
                    "subject" => RateLimitKey::Subject,
                    "client" => RateLimitKey::Client,
                    "ip" => RateLimitKey::ClientIp,
                    other => {
                        return Err(fail(format!(
                            "rate_limit.key must be subject, client or ip, not `{other}`"
                        )));
                    }
                };
                if key != RateLimitKey::ClientIp && access == Access::Public {
                    return Err(fail("a public route can only rate-limit by ip".into()));
                }
                RateLimitRule::new(
                    limit.requests,
                    limit.per_secs,
                    limit.burst.unwrap_or(limit.requests),
                    key,
                )
                .ok_or_else(|| {
                    fail("rate_limit needs requests, per_secs and burst of at least 1".into())
                })
            })
            .transpose()?;
        let host = config.host.as_ref().map(|host| {
            let host = host.to_ascii_lowercase();
            host.strip_suffix('.').map(str::to_owned).unwrap_or(host)
        });
        Ok(Route {
            name: config.name.clone(),
            host,
            prefix: config.path_prefix.trim_end_matches('/').to_owned(),
            strip_prefix: config.strip_prefix,
            upstreams,
            next_upstream: AtomicUsize::new(0),
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            timeout: Duration::from_millis(config.timeout_ms),
            max_body_bytes: config.max_body_bytes,
            access,
            session: config.session,
            rate_limit,
            allow_encoded_slashes: config.allow_encoded_slashes,
            upgrades: config
                .upgrades
                .iter()
                .map(|protocol| protocol.to_ascii_lowercase())
                .collect(),
            resource_metadata: resource.map(|resource| resource.metadata_url),
            metrics: OnceLock::new(),
        })
    }

    /// Whether a request may switch to `protocol` (an `Upgrade` value such as `websocket` or
    /// `websocket/13`: the name before any version is compared, in any case).
    pub fn allows_upgrade(&self, protocol: &str) -> bool {
        let name = protocol.split('/').next().unwrap_or_default().trim();
        self.upgrades
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    }

    /// The route's series in `metrics`, looked up on its first request.
    pub fn metrics(&self, metrics: &Metrics) -> &RouteMetrics {
        self.metrics.get_or_init(|| metrics.route(&self.name))
    }

    /// Whether the route serves `path` (normalized) on `host` (lower case, without port).
    fn matches(&self, host: Option<&str>, path: &str) -> bool {
        if let Some(expected) = &self.host
            && host != Some(expected.as_str())
        {
            return false;
        }
        // Segment boundary: `/users` matches `/users` and `/users/7`, never `/usersettings`.
        path.strip_prefix(&self.prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || self.prefix.is_empty())
    }

    /// Whether the route forwards requests; one without upstreams only answers the questions of
    /// a proxy in front ([`crate::forward_auth`]).
    pub fn forwards(&self) -> bool {
        !self.upstreams.is_empty()
    }

    /// The next upstream base, round-robin; `None` for a route that does not forward.
    pub fn next_upstream(&self) -> Option<&Upstream> {
        let count = self.upstreams.len();
        let index = self
            .next_upstream
            .fetch_add(1, Ordering::Relaxed)
            .checked_rem(count)?;
        self.upstreams.get(index)
    }

    /// The path to send upstream: with `strip_prefix`, without the prefix's segments (counted,
    /// not measured: the path may carry `;` parameters that the prefix was matched without).
    pub fn upstream_path<'a>(&self, path: &'a str) -> &'a str {
        if !self.strip_prefix {
            return path;
        }
        let mut rest = path;
        for _ in self.prefix.split('/').skip(1) {
            match rest
                .get(1..)
                .and_then(|after| after.find('/').map(|end| end + 1))
            {
                Some(next) => rest = &rest[next..],
                None => return "/",
            }
        }
        rest
    }
}

/// The TLS client configurations of one route table, one per distinct setting.
struct ClientTlsCache {
    default_ca_file: Option<std::path::PathBuf>,
    built: HashMap<ClientTls, Arc<rustls::ClientConfig>>,
}

impl ClientTlsCache {
    fn config(&mut self, tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        if let Some(config) = self.built.get(tls) {
            return Ok(config.clone());
        }
        let config = portcullis_tls::client_config(tls)?;
        self.built.insert(tls.clone(), config.clone());
        Ok(config)
    }
}

/// All routes, most specific first, and the metadata of those naming a resource.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
    by_host: bool,
    resources: ProtectedResources,
}

impl RouteTable {
    /// Builds and validates the table.
    ///
    /// # Errors
    /// The first invalid route, or two routes with the same host and prefix.
    pub fn build(config: &GatewayConfig) -> Result<Self, RouteError> {
        let mut tls = ClientTlsCache {
            default_ca_file: config.ca_file.clone(),
            built: HashMap::new(),
        };
        if let Some((route, issuer)) = config.routes.iter().find_map(|route| {
            route
                .issuers
                .iter()
                .find(|issuer| !config.issuers.iter().any(|known| known.issuer == **issuer))
                .map(|issuer| (route, issuer))
        }) {
            return Err(RouteError {
                route: route.name.clone(),
                problem: format!("issuer `{issuer}` is not among [[gateway.issuers]]"),
            });
        }
        if let Some(route) = config
            .routes
            .iter()
            .find(|route| route.session && config.session.is_none())
        {
            return Err(RouteError {
                route: route.name.clone(),
                problem: "session = true needs a [gateway.session] section".into(),
            });
        }
        let mut routes = config
            .routes
            .iter()
            .map(|route| Route::build(route, &mut tls, config.upstream_limits()))
            .collect::<Result<Vec<_>, _>>()?;
        routes.sort_by(|a, b| {
            (b.host.is_some(), b.prefix.len()).cmp(&(a.host.is_some(), a.prefix.len()))
        });
        for pair in routes.windows(2) {
            if pair[0].host == pair[1].host && pair[0].prefix == pair[1].prefix {
                return Err(RouteError {
                    route: pair[1].name.clone(),
                    problem: "duplicates another route's host and path_prefix".into(),
                });
            }
        }
        // Only a valid table changes the limits of the upstreams it names (one that fails to
        // build leaves the running limits alone).
        let limits = config.upstream_limits();
        for route in &routes {
            for upstream in &route.upstreams {
                upstream.apply_limits(limits);
            }
        }
        Ok(RouteTable {
            by_host: routes.iter().any(|route| route.host.is_some()),
            routes: routes.into_iter().map(Arc::new).collect(),
            resources: ProtectedResources::build(config)?,
        })
    }

    /// The protected resource metadata document served at `path` (RFC 9728 §3), if any.
    pub fn resource_metadata(&self, path: &str) -> Option<&axum::body::Bytes> {
        self.resources.document(path)
    }

    /// Whether any route names a host (else the request's host is not needed to route).
    pub fn routes_by_host(&self) -> bool {
        self.by_host
    }

    /// The route for a request (host in lower case without port, path normalized): host-specific
    /// routes first, then the longest prefix.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<Arc<Route>> {
        self.routes
            .iter()
            .find(|route| route.matches(host, path))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, prefix: &str, host: Option<&str>) -> RouteConfig {
        RouteConfig {
            host: host.map(str::to_owned),
            ..RouteConfig::new(name, prefix, "http://127.0.0.1:9").public()
        }
    }

    fn cache() -> ClientTlsCache {
        ClientTlsCache {
            default_ca_file: None,
            built: HashMap::new(),
        }
    }

    fn table(routes: Vec<RouteConfig>) -> Result<RouteTable, RouteError> {
        RouteTable::build(&GatewayConfig {
            routes,
            ..GatewayConfig::default()
        })
    }

    #[test]
    fn longest_prefix_on_segment_boundaries_and_hosts_first() {
        let table = table(vec![
            route("root", "/", None),
            route("users", "/users", None),
            route("admin", "/users/admin", None),
            route("api-host", "/users", Some("api.example")),
        ])
        .expect("valid");
        let name = |host, path| table.find(host, path).map(|route| route.name.clone());
        assert_eq!(name(None, "/users/7").as_deref(), Some("users"));
        assert_eq!(name(None, "/users").as_deref(), Some("users"));
        assert_eq!(name(None, "/usersettings").as_deref(), Some("root"));
        assert_eq!(name(None, "/users/admin/x").as_deref(), Some("admin"));
        assert_eq!(
            name(Some("api.example"), "/users/1").as_deref(),
            Some("api-host")
        );
        assert_eq!(name(None, "/other").as_deref(), Some("root"));
        let no_root = super::RouteTable::build(&GatewayConfig {
            routes: vec![route("users", "/users", None)],
            ..GatewayConfig::default()
        })
        .expect("valid");
        assert!(no_root.find(None, "/other").is_none());
    }

    #[test]
    fn strip_prefix_and_round_robin() {
        let mut config = route("users", "/users", None);
        config.strip_prefix = true;
        config.upstreams = vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()];
        let route = Route::build(&config, &mut cache(), UpstreamLimits::default()).expect("valid");
        assert_eq!(route.upstream_path("/users/7"), "/7");
        assert_eq!(route.upstream_path("/users"), "/");
        assert_eq!(route.upstream_path("/users/"), "/");
        assert_eq!(route.upstream_path("/users;v=1/7/x"), "/7/x");
        config.path_prefix = "/api/v1".into();
        let nested = Route::build(&config, &mut cache(), UpstreamLimits::default()).expect("valid");
        assert_eq!(nested.upstream_path("/api/v1/orders"), "/orders");
        assert_eq!(nested.upstream_path("/api/v1"), "/");
        assert!(nested.allows_upgrade("WebSocket/13"));
        assert!(!nested.allows_upgrade("h2c"));
        let ports: Vec<u16> = (0..4)
            .filter_map(|_| route.next_upstream()?.authority().port_u16())
            .collect();
        assert_eq!(ports, [1, 2, 1, 2]);
    }

    #[test]
    fn invalid_routes_are_named() {
        let mut bad = route("bad", "users", None);
        assert!(table(vec![bad.clone()]).is_err_and(|error| error.route == "bad"));
        bad.path_prefix = "/x".into();
        bad.upstreams = vec!["ftp://files.example".into()];
        assert!(table(vec![bad.clone()]).is_err());
        bad.upstreams = vec!["https://tls.example".into()];
        assert!(
            table(vec![bad.clone()]).is_ok(),
            "https upstreams are reached over TLS"
        );
        bad.client_cert_file = Some("/nonexistent/cert.pem".into());
        assert!(table(vec![bad.clone()]).is_err_and(|error| error.problem.contains("both")));
        bad.client_key_file = Some("/nonexistent/key.pem".into());
        assert!(
            table(vec![bad.clone()]).is_err_and(|error| error.problem.contains("/nonexistent")),
            "an unreadable certificate is named"
        );
        bad.upstreams = vec!["http://plain.example".into()];
        assert!(table(vec![bad.clone()]).is_err_and(|error| error.problem.contains("https")));
        bad.client_cert_file = None;
        bad.client_key_file = None;
        bad.upstreams = vec![];
        let decision_only = table(vec![bad.clone()]).expect("a route only for forward-auth");
        let decider = decision_only.find(None, "/x").expect("found");
        assert!(!decider.forwards() && decider.next_upstream().is_none());
        let mut public_with_scope = route("p", "/p", None);
        public_with_scope.scopes_any = vec!["x".into()];
        assert!(table(vec![public_with_scope]).is_err());
        assert!(table(vec![route("a", "/a", None), route("b", "/a", None)]).is_err());
        let mut unknown = route("u", "/u", None);
        unknown.auth = "maybe".into();
        assert!(table(vec![unknown]).is_err());
    }
}
