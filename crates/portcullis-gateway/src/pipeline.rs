//! The request pipeline, in order: request id → strip spoofable identity headers → route (the
//! gateway's own `/_portcullis/` endpoints first) → a browser session's token ([`crate::session`])
//! → authenticate and authorize → rate limit → forward. Each stage lives in its own module; this
//! one only strings them together and records the outcome.

use crate::authenticate::{AuthFailure, Authenticator};
use crate::config::UnderscoreHeaders;
use crate::dpop::{DpopGate, DpopRequest, RequestOrigin};
use crate::error::GatewayError;
use crate::forward_auth::Asker;
use crate::identity::{AssertedIdentity, strip_spoofable_headers, write_every_identity_header};
use crate::metrics::Metrics;
use crate::policy::{Access, Requirements};
use crate::protected_resource;
use crate::proxy::{ForwardContext, Peer, X_REQUEST_ID, forward};
use crate::rate_limit::{RateDecision, RateLimitKey, RateLimiter};
use crate::request_target::{self, TargetRejection};
use crate::revocations::unix_now;
use crate::routes::{Route, RouteTable};
use crate::session::{Attached, Endpoint, Sessions, is_navigation};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use portcullis_core::TrustedProxies;
use portcullis_sdk::request_id::request_id;
use portcullis_service::ProofReplay;
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
    /// Browser sessions, when configured.
    sessions: Option<Arc<Sessions>>,
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
    /// Browser sessions, when configured.
    pub sessions: Option<Arc<Sessions>>,
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
            sessions: settings.sessions,
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

/// A request the pipeline let through: its route, the identity its token asserts (none on a
/// public route), the request itself and headers for the response (rate limits).
struct Admitted {
    route: Arc<Route>,
    identity: Option<Arc<AssertedIdentity>>,
    request: Request,
    extra_headers: Vec<(HeaderName, HeaderValue)>,
}

/// What the pipeline made of a request it did not refuse.
enum Admission {
    /// Answered by the gateway itself (a route's protected resource metadata).
    Answered(Response),
    /// To be forwarded (or, for a proxy in front, allowed).
    Admitted(Admitted),
}

/// A request the pipeline refused: the route it matched (`None`: none), why, and headers for the
/// response.
struct Refused {
    route: Option<Arc<Route>>,
    error: GatewayError,
    extra_headers: Vec<(HeaderName, HeaderValue)>,
}

impl Refused {
    fn on(route: Option<&Arc<Route>>, error: GatewayError) -> Self {
        Refused {
            route: route.cloned(),
            error,
            extra_headers: Vec::new(),
        }
    }
}

/// What the pipeline does with an admitted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards it to the route's upstream (the public listener).
    Proxy,
    /// Answers 200 with the identity headers, for a proxy in front that asked
    /// ([`crate::forward_auth`]).
    Decide,
}

/// Every stage before forwarding: strip, route, authenticate, authorize, rate limit.
async fn admit(
    gateway: &Gateway,
    peer: &Peer,
    mut request: Request,
    mode: Mode,
) -> Result<Admission, Refused> {
    if strip_spoofable_headers(
        request.headers_mut(),
        &gateway.strip_headers,
        gateway.underscores,
    )
    .is_err()
    {
        return Err(Refused::on(
            None,
            GatewayError::BadRequest("header names with underscores are not accepted"),
        ));
    }
    // Normalized once, here: the route is matched on the path that is forwarded.
    let routes = gateway.routes();
    let target = request_target::settle(&mut request, routes.routes_by_host())
        .map_err(|rejection| Refused::on(None, GatewayError::BadTarget(rejection)))?;
    let path = target
        .matching_path
        .as_deref()
        .unwrap_or(request.uri().path());
    if mode == Mode::Proxy
        && let Some(sessions) = &gateway.sessions
        && let Some(endpoint) = Endpoint::at(path)
    {
        if endpoint == Endpoint::Login {
            // Boxed, like every rare path here: their state would otherwise be held by every
            // proxied request in flight (RSS with many busy connections).
            Box::pin(sign_in_allowed(gateway, sessions, peer, request.headers())).await?;
        }
        return Ok(Admission::Answered(
            Box::pin(sessions.answer(endpoint, request, unix_now())).await,
        ));
    }
    if mode == Mode::Proxy
        && let Some(document) = routes.resource_metadata(path)
    {
        return Ok(Admission::Answered(protected_resource::metadata_response(
            request.method(),
            document,
        )));
    }
    let route = routes
        .find(target.host.as_deref(), path)
        // A route without upstreams only answers a proxy's questions.
        .filter(|route| mode == Mode::Decide || route.forwards())
        .ok_or_else(|| Refused::on(None, GatewayError::NoRoute))?;
    if target.keeps_encoded_separators && !route.allow_encoded_slashes {
        return Err(Refused::on(
            Some(&route),
            GatewayError::BadTarget(TargetRejection::Path(
                crate::path::PathRejection::EncodedSeparator,
            )),
        ));
    }
    let session = attach_session(gateway, &route, &mut request).await?;
    let identity = match &route.access {
        Access::Public => None,
        Access::Authenticated(requirements) => {
            match authorize(gateway, peer, &presented_by(&request), requirements, mode).await {
                Ok(identity) => Some(identity),
                Err(error) => {
                    let asker = request.extensions().get::<Asker>().copied();
                    let presented = presented_by(&request);
                    return Box::pin(session_refusal(
                        gateway, peer, route, session, &presented, asker, error,
                    ))
                    .await;
                }
            }
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
            .acquire(&format!("{}|{key}", route.name), rule, Instant::now())
            .await;
        extra_headers = rate_limit_headers(&route, decision);
        if let RateDecision::Deny { retry_after } = decision {
            gateway.metrics.rate_limited(&route.name);
            return Err(Refused {
                route: Some(route),
                error: GatewayError::RateLimited { retry_after },
                extra_headers,
            });
        }
    }
    // The gateway's cookies never reach upstreams (read until here: a sign-in started above
    // keeps the browser's binding).
    if let Some(sessions) = &gateway.sessions {
        sessions.strip_cookies(request.headers_mut());
    }
    Ok(Admission::Admitted(Admitted {
        route,
        identity,
        request,
        extra_headers,
    }))
}

/// Refuses (429) a client address that started too many sign-ins.
async fn sign_in_allowed(
    gateway: &Gateway,
    sessions: &Sessions,
    peer: &Peer,
    headers: &HeaderMap,
) -> Result<(), Refused> {
    let (rule, key) = sessions.sign_in_limit(gateway.client_ip(peer.ip, headers));
    match gateway
        .rate_limiter
        .acquire(&key, rule, Instant::now())
        .await
    {
        RateDecision::Allow { .. } => Ok(()),
        RateDecision::Deny { retry_after } => {
            Err(Refused::on(None, GatewayError::RateLimited { retry_after }))
        }
    }
}

/// On a session route, a request without a token of its own has its session's access token
/// put in `Authorization`: the route's policy then judges it like any other. `None`: not a
/// session route, or a token of its own.
async fn attach_session(
    gateway: &Gateway,
    route: &Arc<Route>,
    request: &mut Request,
) -> Result<Option<(Arc<Sessions>, Attached)>, Refused> {
    let Some(sessions) = &gateway.sessions else {
        return Ok(None);
    };
    let own_token = request
        .headers()
        .contains_key(axum::http::header::AUTHORIZATION)
        || gateway
            .authenticator
            .api_key_header()
            .is_some_and(|name| request.headers().contains_key(name));
    if !route.session || own_token {
        return Ok(None);
    }
    let (method, headers) = (request.method().clone(), request.headers_mut());
    let attached = sessions
        .attach(&method, headers, unix_now())
        .await
        .map_err(|error| Refused::on(Some(route), error))?;
    Ok(Some((sessions.clone(), attached)))
}

/// A session this young whose token is refused is not sent to sign in again.
const FRESH_SESSION_SECS: i64 = 10;

/// A session request the route refused with `error`: a session whose token is no longer
/// accepted (revoked, expired) ends; a browser's page load without a usable session is sent to
/// sign in; anything else is refused as usual (an API call gets its 401).
async fn session_refusal(
    gateway: &Gateway,
    peer: &Peer,
    route: Arc<Route>,
    session: Option<(Arc<Sessions>, Attached)>,
    request: &Presented<'_>,
    asker: Option<Asker>,
    error: GatewayError,
) -> Result<Admission, Refused> {
    let Some((sessions, attached)) = session else {
        return Err(Refused::on(Some(&route), error));
    };
    let unauthenticated = matches!(
        error,
        GatewayError::Auth(AuthFailure::Missing | AuthFailure::Invalid(_) | AuthFailure::Revoked)
    );
    if !unauthenticated {
        return Err(Refused::on(Some(&route), error));
    }
    if let Attached::Session { key, created_at } = &attached {
        sessions
            .end_refused(key)
            .await
            .map_err(|error| Refused::on(Some(&route), error))?;
        // Refused moments after sign-in: the route cannot verify the provider's tokens (an
        // issuer or audience misconfigured). Signing in again would loop; say so instead.
        if matches!(error, GatewayError::Auth(AuthFailure::Invalid(_)))
            && unix_now().saturating_sub(*created_at) < FRESH_SESSION_SECS
        {
            tracing::warn!(route = %route.name, ?error, "a session's first access token was refused: check [[gateway.issuers]] and the route's audience");
            return Err(Refused::on(Some(&route), error));
        }
    }
    let forget = (attached != Attached::Nothing).then(|| {
        (
            axum::http::header::SET_COOKIE,
            sessions.forget_session_cookie(),
        )
    });
    if !is_navigation(request.method, request.headers) {
        return Err(Refused {
            route: Some(route),
            error,
            extra_headers: forget.into_iter().collect(),
        });
    }
    let return_to = request
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let mut response = match asker {
        // The public listener starts the sign-in itself.
        None => {
            sign_in_allowed(gateway, &sessions, peer, request.headers).await?;
            sessions
                .login_redirect(request.headers, return_to, unix_now())
                .await
                .map_err(|error| Refused::on(Some(&route), error))?
        }
        // A proxy in front sends the browser to the gateway's login endpoint (which it routes
        // to the public listener): nginx by its recipe's 401 handler, the others as they are.
        Some(asker) => {
            let mut response = GatewayError::Auth(AuthFailure::Missing).into_response();
            if asker == Asker::RelaysRefusals {
                *response.status_mut() = axum::http::StatusCode::FOUND;
            }
            if let Ok(location) = HeaderValue::from_str(&sessions.login_location(return_to)) {
                response
                    .headers_mut()
                    .insert(axum::http::header::LOCATION, location);
            }
            response
        }
    };
    if let Some((name, value)) = forget {
        response.headers_mut().append(name, value);
    }
    Ok(Admission::Answered(response))
}

/// What authorization reads of a request (its body, which is not `Sync`, aside).
struct Presented<'a> {
    method: &'a axum::http::Method,
    uri: &'a axum::http::Uri,
    headers: &'a HeaderMap,
}

fn presented_by(request: &Request) -> Presented<'_> {
    Presented {
        method: request.method(),
        uri: request.uri(),
        headers: request.headers(),
    }
}

/// The token's identity, if it satisfies the route's requirements.
async fn authorize(
    gateway: &Gateway,
    peer: &Peer,
    request: &Presented<'_>,
    requirements: &Requirements,
    mode: Mode,
) -> Result<Arc<AssertedIdentity>, GatewayError> {
    let now = unix_now();
    let (identity, scheme) = gateway
        .authenticator
        .authenticate(request.headers, now)
        .await
        .map_err(GatewayError::Auth)?;
    // The audience first: a token for another resource spends no DPoP proof.
    requirements
        .check_audience(&identity)
        .map_err(GatewayError::Denied)?;
    let presented = DpopRequest {
        headers: request.headers,
        method: request.method,
        uri: request.uri,
        peer_trusted: gateway.trusted_proxies.contains(peer.ip),
        required: requirements.dpop,
    };
    gateway
        .dpop
        .check(&identity, scheme, &presented, now)
        .await
        .map_err(GatewayError::Auth)?;
    requirements
        .check_grants(&identity.identity, now)
        .map_err(GatewayError::Denied)?;
    if let Some(networks) = &identity.networks {
        // Asked by a proxy in front, the peer is the proxy: the client's address is known
        // only from a trusted one's X-Forwarded-For, else the token's networks cannot be told.
        let address_known = mode == Mode::Proxy || gateway.trusted_proxies.contains(peer.ip);
        if !address_known || !networks.contains(gateway.client_ip(peer.ip, request.headers)) {
            return Err(GatewayError::Auth(AuthFailure::Invalid(
                "the token may not be used from this address".to_owned(),
            )));
        }
    }
    Ok(identity)
}

/// A response: the route that made it (`None`: the gateway itself), and headers to add.
type Answer = (Option<Arc<Route>>, Response, Vec<(HeaderName, HeaderValue)>);

/// The pipeline, then forwarding (or, for [`Mode::Decide`], the identity headers).
async fn run(
    gateway: &Gateway,
    peer: &Peer,
    request_id: &HeaderValue,
    request: Request,
    mode: Mode,
) -> Result<Answer, Refused> {
    let admitted = match admit(gateway, peer, request, mode).await? {
        Admission::Answered(response) => return Ok((None, response, Vec::new())),
        Admission::Admitted(admitted) => admitted,
    };
    let Admitted {
        route,
        identity,
        request,
        extra_headers,
    } = admitted;
    if mode == Mode::Decide {
        let mut response = Response::new(Body::empty());
        write_every_identity_header(identity.as_deref(), response.headers_mut());
        // The token for the proxy to hand upstream (a session's, which only the gateway holds),
        // as the gateway would forward it itself.
        if gateway.forward_authorization
            && let Some(token) = request.headers().get(axum::http::header::AUTHORIZATION)
        {
            response
                .headers_mut()
                .insert(axum::http::header::AUTHORIZATION, token.clone());
        }
        return Ok((Some(route), response, extra_headers));
    }
    let context = ForwardContext {
        route: &route,
        identity: identity.as_deref(),
        peer,
        peer_trusted: gateway.trusted_proxies.contains(peer.ip),
        forward_authorization: gateway.forward_authorization,
        api_key_header: gateway.authenticator.api_key_header(),
        request_id,
    };
    match forward(context, request.map(Body::new)).await {
        Ok((response, elapsed)) => {
            route
                .metrics(&gateway.metrics)
                .upstream_latency(elapsed.as_secs_f64());
            Ok((Some(route), response, extra_headers))
        }
        Err(error) => Err(Refused {
            route: Some(route),
            error,
            extra_headers,
        }),
    }
}

/// The gateway's only handler: every request of the public listener, from `peer`.
pub async fn handle(gateway: Arc<Gateway>, peer: Arc<Peer>, request: Request) -> Response {
    handle_as(&gateway, &peer, request, Mode::Proxy).await
}

/// Runs `request` through the pipeline in `mode` and answers it: errors in the protocol's form,
/// metrics, the access log.
pub async fn handle_as(gateway: &Gateway, peer: &Peer, request: Request, mode: Mode) -> Response {
    let request_id = request_id(request.headers());
    // The access line's fields are copied only when it is written.
    let logged = tracing::enabled!(tracing::Level::INFO).then(|| {
        (
            Instant::now(),
            request.method().clone(),
            request.uri().path().to_owned(),
        )
    });
    let (route, mut response, extra_headers) =
        match run(gateway, peer, &request_id, request, mode).await {
            Ok(answer) => answer,
            Err(refused) => refusal(gateway, refused, mode),
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
            forward_auth = mode == Mode::Decide,
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "request"
        );
    }
    response
}

/// The response to a refused request. A proxy asking whether to let a request through hears
/// 403 for a path no route covers: nginx's `auth_request` understands only 2xx, 401 and 403, and
/// what the gateway does not know it does not allow.
fn refusal(gateway: &Gateway, refused: Refused, mode: Mode) -> Answer {
    let Refused {
        route,
        error,
        extra_headers,
    } = refused;
    if !matches!(
        error,
        GatewayError::BadGateway
            | GatewayError::GatewayTimeout
            | GatewayError::UpstreamOverloaded
            | GatewayError::NoRoute
            | GatewayError::NotCovered
            | GatewayError::BadTarget(_)
            | GatewayError::BadRequest(_)
    ) {
        gateway.metrics.auth_failure(error.reason());
    }
    let mut response = match (error, mode) {
        (GatewayError::NoRoute, Mode::Decide) => GatewayError::NotCovered,
        (error, _) => error,
    }
    .into_response();
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
    (route, response, extra_headers)
}
