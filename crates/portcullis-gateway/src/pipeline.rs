//! The request pipeline, in order: request id → strip spoofable identity headers → route →
//! authenticate and authorize → rate limit → forward. Each stage lives in its own module; this one
//! only strings them together and records the outcome.

use crate::authenticate::Authenticator;
use crate::config::UnderscoreHeaders;
use crate::dpop::{DpopGate, DpopRequest, RequestOrigin};
use crate::error::GatewayError;
use crate::identity::{AssertedIdentity, strip_spoofable_headers};
use crate::metrics::Metrics;
use crate::policy::Access;
use crate::protected_resource;
use crate::proxy::{ForwardContext, Peer, X_REQUEST_ID, forward};
use crate::rate_limit::{RateDecision, RateLimitKey, RateLimiter};
use crate::request_target::{self, TargetRejection};
use crate::revocations::unix_now;
use crate::routes::{Route, RouteTable};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use portcullis_core::TrustedProxies;
use portcullis_service::ProofReplay;
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Everything the pipeline needs; shared by all connections.
pub struct Gateway {
    routes: RwLock<Arc<RouteTable>>,
    /// Token validation.
    pub authenticator: Authenticator,
    /// DPoP proofs of bound tokens.
    dpop: DpopGate,
    rate_limiter: Box<dyn RateLimiter>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    strip_headers: Vec<HeaderName>,
    underscores: UnderscoreHeaders,
    trusted_proxies: TrustedProxies,
    forward_authorization: bool,
    /// Whether the gateway follows a cluster's Redis (for `/readyz`).
    pub follows_redis: bool,
}

/// The settings of the pipeline that are not routes.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// Extra headers to strip, lower case with `-`.
    pub strip_headers: Vec<HeaderName>,
    /// What to do with header names that contain `_`.
    pub underscores: UnderscoreHeaders,
    /// Trusted proxies.
    pub trusted_proxies: TrustedProxies,
    /// Keep `Authorization` for backends.
    pub forward_authorization: bool,
    /// Follows a cluster's Redis.
    pub follows_redis: bool,
    /// The public listener speaks TLS (the scheme of the URLs DPoP proofs name).
    pub https: bool,
    /// The configured origin clients reach the gateway at, without a trailing `/`.
    pub public_origin: Option<String>,
    /// Clock skew tolerated in tokens and DPoP proofs.
    pub leeway_secs: i64,
    /// Where DPoP proofs are remembered against replay.
    pub proof_replay: Arc<dyn ProofReplay>,
    /// The nonces DPoP proofs must carry, when required.
    pub dpop_nonces: Option<Arc<portcullis_core::dpop_nonce::DpopNonces>>,
}

impl Gateway {
    /// A gateway over these parts.
    pub fn new(
        routes: RouteTable,
        authenticator: Authenticator,
        rate_limiter: Box<dyn RateLimiter>,
        metrics: Arc<Metrics>,
        settings: PipelineSettings,
    ) -> Self {
        Gateway {
            routes: RwLock::new(Arc::new(routes)),
            authenticator,
            dpop: DpopGate::new(
                RequestOrigin {
                    https: settings.https,
                    public: settings.public_origin,
                },
                settings.leeway_secs,
                settings.proof_replay,
                settings.dpop_nonces,
            ),
            rate_limiter,
            metrics,
            strip_headers: settings.strip_headers,
            underscores: settings.underscores,
            trusted_proxies: settings.trusted_proxies,
            forward_authorization: settings.forward_authorization,
            follows_redis: settings.follows_redis,
        }
    }

    /// Replaces the route table (configuration reload); requests in flight keep the old one.
    pub fn replace_routes(&self, routes: RouteTable) {
        *self
            .routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(routes);
    }

    fn routes(&self) -> Arc<RouteTable> {
        self.routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The client address: the peer, or behind trusted proxies the nearest untrusted address in
    /// `X-Forwarded-For` (every line of it, as the forwarded chain is built).
    fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        portcullis_core::client_address(
            peer,
            headers
                .get_all(&crate::proxy::X_FORWARDED_FOR)
                .iter()
                .map(HeaderValue::as_bytes),
            &self.trusted_proxies,
        )
    }
}

/// Accepts a plain incoming request id (so a trace can span services), else makes one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&X_REQUEST_ID)
        .filter(|value| {
            let bytes = value.as_bytes();
            (1..=128).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(byte))
        })
        .cloned()
        .or_else(random_request_id)
        .unwrap_or(HeaderValue::from_static("unavailable"))
}

/// A new request id: 12 random bytes, base64url. The bytes are drawn from the system's RNG for
/// 32 ids at a time, per thread (one RNG call per request cost 2% of the proxy's CPU).
fn random_request_id() -> Option<HeaderValue> {
    const ID_BYTES: usize = 12;
    const POOL_BYTES: usize = ID_BYTES * 32;
    thread_local! {
        static POOL: RefCell<([u8; POOL_BYTES], usize)> =
            const { RefCell::new(([0; POOL_BYTES], POOL_BYTES)) };
    }
    POOL.with_borrow_mut(|(pool, used)| {
        if *used == POOL_BYTES {
            portcullis_jose::random_bytes(pool).ok()?;
            *used = 0;
        }
        let id = pool.get(*used..*used + ID_BYTES)?;
        *used += ID_BYTES;
        HeaderValue::try_from(portcullis_jose::base64url::encode(id)).ok()
    })
}

/// The rate-limit headers of the IETF draft (`RateLimit-Policy`, `RateLimit`).
fn rate_limit_headers(route: &Route, decision: RateDecision) -> Vec<(HeaderName, HeaderValue)> {
    let Some(rule) = &route.rate_limit else {
        return Vec::new();
    };
    let policy = format!(
        "\"{}\";q={};w={}",
        route.name,
        rule.requests,
        rule.period.as_secs()
    );
    let (remaining, reset) = match decision {
        RateDecision::Allow { remaining, reset } => (remaining, reset),
        RateDecision::Deny { retry_after } => (0, retry_after),
    };
    let state = format!(
        "\"{}\";r={};t={}",
        route.name,
        remaining,
        reset.as_secs() + u64::from(reset.subsec_nanos() > 0)
    );
    [("ratelimit-policy", policy), ("ratelimit", state)]
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).ok()?,
            ))
        })
        .collect()
}

/// The route a request matched (`None`: no route), its outcome, and headers for the response.
type Outcome = (
    Option<Arc<Route>>,
    Result<Response, GatewayError>,
    Vec<(HeaderName, HeaderValue)>,
);

async fn run(
    gateway: &Gateway,
    peer: &Peer,
    request_id: &HeaderValue,
    mut request: Request,
) -> Outcome {
    let refused = |error| (None, Err(error), Vec::new());
    if strip_spoofable_headers(
        request.headers_mut(),
        &gateway.strip_headers,
        gateway.underscores,
    )
    .is_err()
    {
        return refused(GatewayError::BadRequest(
            "header names with underscores are not accepted",
        ));
    }
    // Normalized once, here: the route is matched on the path that is forwarded.
    let routes = gateway.routes();
    let target = match request_target::settle(&mut request, routes.routes_by_host()) {
        Ok(target) => target,
        Err(rejection) => return refused(GatewayError::BadTarget(rejection)),
    };
    let path = target
        .matching_path
        .as_deref()
        .unwrap_or(request.uri().path());
    if let Some(document) = routes.resource_metadata(path) {
        let response = protected_resource::metadata_response(request.method(), document);
        return (None, Ok(response), Vec::new());
    }
    let Some(route) = routes.find(target.host.as_deref(), path) else {
        return refused(GatewayError::NoRoute);
    };
    if target.keeps_encoded_separators && !route.allow_encoded_slashes {
        return (
            Some(route),
            Err(GatewayError::BadTarget(TargetRejection::Path(
                crate::path::PathRejection::EncodedSeparator,
            ))),
            Vec::new(),
        );
    }
    let name = route.name.as_str();
    let identity: Option<Arc<AssertedIdentity>> = match &route.access {
        Access::Public => None,
        Access::Authenticated(requirements) => {
            let now = unix_now();
            let (identity, scheme) = match gateway
                .authenticator
                .authenticate(request.headers(), now)
                .await
            {
                Ok(authenticated) => authenticated,
                Err(failure) => {
                    return (Some(route), Err(GatewayError::Auth(failure)), Vec::new());
                }
            };
            // The audience first: a token for another resource spends no DPoP proof.
            if let Err(denial) = requirements.check_audience(&identity) {
                return (Some(route), Err(GatewayError::Denied(denial)), Vec::new());
            }
            let presented = DpopRequest {
                headers: request.headers(),
                method: request.method(),
                uri: request.uri(),
                peer_trusted: gateway.trusted_proxies.contains(peer.ip),
                required: requirements.dpop,
            };
            if let Err(failure) = gateway.dpop.check(&identity, scheme, &presented, now).await {
                return (Some(route), Err(GatewayError::Auth(failure)), Vec::new());
            }
            if let Err(denial) = requirements.check_grants(&identity.identity, now) {
                return (Some(route), Err(GatewayError::Denied(denial)), Vec::new());
            }
            Some(identity)
        }
    };
    let mut extra_headers = Vec::new();
    if let Some(rule) = &route.rate_limit {
        let key = match (rule.key, &identity) {
            (RateLimitKey::Subject, Some(asserted)) => {
                format!("sub:{}", asserted.identity.subject)
            }
            (RateLimitKey::Client, Some(asserted)) => {
                format!("client:{}", asserted.identity.client_id)
            }
            _ => format!("ip:{}", gateway.client_ip(peer.ip, request.headers())),
        };
        let decision = gateway
            .rate_limiter
            .acquire(&format!("{name}|{key}"), rule, Instant::now())
            .await;
        extra_headers = rate_limit_headers(&route, decision);
        if let RateDecision::Deny { retry_after } = decision {
            gateway.metrics.rate_limited(name);
            return (
                Some(route),
                Err(GatewayError::RateLimited { retry_after }),
                extra_headers,
            );
        }
    }
    let context = ForwardContext {
        route: &route,
        identity: identity.as_deref(),
        peer,
        peer_trusted: gateway.trusted_proxies.contains(peer.ip),
        forward_authorization: gateway.forward_authorization,
        request_id,
    };
    let result = forward(context, request.map(Body::new))
        .await
        .map(|(response, elapsed)| {
            route
                .metrics(&gateway.metrics)
                .upstream_latency(elapsed.as_secs_f64());
            response
        });
    (Some(route), result, extra_headers)
}

/// The gateway's only handler: every request of the public listener, from `peer`.
pub async fn handle(gateway: Arc<Gateway>, peer: Arc<Peer>, request: Request) -> Response {
    let request_id = request_id(request.headers());
    // The access line's fields are copied only when it is written.
    let logged = tracing::enabled!(tracing::Level::INFO).then(|| {
        (
            Instant::now(),
            request.method().clone(),
            request.uri().path().to_owned(),
        )
    });
    let (route, result, extra_headers) = run(&gateway, &peer, &request_id, request).await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) => {
            if !matches!(
                error,
                GatewayError::BadGateway
                    | GatewayError::GatewayTimeout
                    | GatewayError::NoRoute
                    | GatewayError::BadTarget(_)
                    | GatewayError::BadRequest(_)
            ) {
                gateway.metrics.auth_failure(error.reason());
            }
            let mut response = error.into_response();
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            );
            if let Some(url) = route
                .as_deref()
                .and_then(|route| route.resource_metadata.as_ref())
            {
                protected_resource::point_to_metadata(&mut response, url);
            }
            response
        }
    };
    for (name, value) in extra_headers {
        response.headers_mut().insert(name, value);
    }
    response
        .headers_mut()
        .insert(X_REQUEST_ID, request_id.clone());
    let status = response.status().as_u16();
    let name = route
        .as_deref()
        .map_or("unmatched", |route| route.name.as_str());
    match &route {
        Some(route) => route.metrics(&gateway.metrics).request(status),
        None => gateway.metrics.request(name, status),
    }
    // The access log: path only (never the query or headers, which may carry credentials).
    if let Some((started, method, path)) = logged {
        tracing::info!(
            request_id = request_id.to_str().unwrap_or_default(),
            %method,
            %path,
            route = name,
            status,
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    }
    response
}
