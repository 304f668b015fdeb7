//! The gateway's configuration: the `[gateway]` section of the Portcullis TOML file, with its
//! issuers and routes. Validated once into the runtime types of [`crate::routes`].

use crate::upstream_budget::UpstreamLimits;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `[gateway]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Public listener.
    pub listen: SocketAddr,
    /// Listener of `/healthz`, `/readyz` and `/metrics`.
    pub admin_listen: SocketAddr,
    /// Listener of the forward-auth endpoint `/_portcullis/auth`, which answers nginx
    /// `auth_request`, Traefik ForwardAuth, Caddy `forward_auth` and Envoy `ext_authz` whether a
    /// request may pass (the routes' policies, with the identity headers). Unset: none. Only the
    /// proxies in front should reach it.
    pub forward_auth_listen: Option<SocketAddr>,
    /// Keep the `Authorization` header on forwarded requests, so backends can verify the token.
    pub forward_authorization: bool,
    /// A header API keys (personal access tokens) may come in instead of
    /// `Authorization: Bearer`, such as `x-api-key`; unset: only `Authorization`.
    pub api_key_header: Option<String>,
    /// Client headers removed before anything else, beside every `X-Portcullis-*`. A name is
    /// also removed when spelled with `_` for `-` (which CGI-style backends read as the same).
    pub strip_headers: Vec<String>,
    /// What to do with request headers whose names contain `_`: `drop` them (nginx's default),
    /// `reject` the request with 400, or `allow` them.
    pub headers_with_underscores: UnderscoreHeaders,
    /// Peers whose `X-Forwarded-*` headers are trusted: addresses and CIDR ranges.
    pub trusted_proxies: Vec<String>,
    /// The origin clients reach the gateway at (`https://api.example.com`): the URL DPoP proofs
    /// must name. Unset: the request's own host (or a trusted proxy's forwarded one).
    pub public_url: Option<String>,
    /// DPoP proofs must carry a nonce the gateway handed out (RFC 9449 §9).
    pub dpop_nonce: bool,
    /// The key of those nonces, the same on every gateway behind one address; unset: a key of
    /// this process's own.
    pub dpop_nonce_secret: Option<NonceSecret>,
    /// Open client connections at most.
    pub max_connections: usize,
    /// Worker threads serving the public listener; 0 (the default): one per core.
    pub workers: usize,
    /// Connections open to one upstream at once, idle or busy.
    pub upstream_max_connections: usize,
    /// Requests waiting for a connection to one upstream at once; more get 503 at once.
    pub upstream_max_pending: usize,
    /// How long a request waits for a connection to its upstream before it gets 503.
    pub upstream_pending_timeout_ms: u64,
    /// Time allowed for a client to send its request headers (slowloris protection); also how
    /// long an HTTP/1.1 connection may wait idle for its next request.
    pub header_read_timeout_ms: u64,
    /// An HTTP/2 connection with no open request for this long is closed.
    pub http2_idle_timeout_ms: u64,
    /// Interval of the HTTP/2 keep-alive pings; a peer that does not answer one within as long
    /// again is disconnected.
    pub http2_keepalive_interval_ms: u64,
    /// Largest request head accepted, in bytes.
    pub max_header_bytes: usize,
    /// Verified tokens remembered at most.
    pub token_cache_entries: usize,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_secs: i64,
    /// An unknown `kid` triggers a JWKS fetch at most this often per issuer.
    pub jwks_refetch_min_interval_secs: u64,
    /// Rate-limit keys remembered at most per route.
    pub rate_limit_max_keys: usize,
    /// PEM certificate chain; with `tls_key_file`, the public listener speaks TLS (HTTP/1.1 and
    /// HTTP/2 by ALPN).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    pub tls_key_file: Option<PathBuf>,
    /// PEM bundle of the CAs trusted for `https://` upstreams, issuer discovery, JWKS and
    /// revocation feeds; when unset, the system's roots. A route may name its own.
    pub ca_file: Option<PathBuf>,
    /// Accepted token issuers.
    pub issuers: Vec<IssuerConfig>,
    /// Routes, matched by host and longest path prefix.
    pub routes: Vec<RouteConfig>,
    /// Browser sessions for routes with `session = true`: the gateway signs browsers in at an
    /// OpenID provider and keeps their tokens server-side. Requires `public_url`.
    pub session: Option<SessionConfig>,
    /// The cluster's Redis (top-level `redis_url` / `redis_prefix` of the configuration): pushed
    /// revocations and key changes, and rate limits shared by every gateway.
    #[serde(skip)]
    pub redis: Option<portcullis_redis::RedisSettings>,
}

impl GatewayConfig {
    /// The limits of each upstream's connections.
    pub fn upstream_limits(&self) -> UpstreamLimits {
        UpstreamLimits {
            max_connections: self.upstream_max_connections,
            max_pending: self.upstream_max_pending,
            pending_timeout: std::time::Duration::from_millis(self.upstream_pending_timeout_ms),
            threads: crate::worker::count(self.workers),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 4001)),
            forward_auth_listen: None,
            forward_authorization: true,
            api_key_header: None,
            strip_headers: vec!["x-user-id".into(), "x-forwarded-user".into()],
            headers_with_underscores: UnderscoreHeaders::Drop,
            trusted_proxies: Vec::new(),
            public_url: None,
            dpop_nonce: false,
            dpop_nonce_secret: None,
            max_connections: 10_000,
            workers: 0,
            upstream_max_connections: UpstreamLimits::default().max_connections,
            upstream_max_pending: UpstreamLimits::default().max_pending,
            upstream_pending_timeout_ms: 2_000,
            header_read_timeout_ms: 5_000,
            http2_idle_timeout_ms: 60_000,
            http2_keepalive_interval_ms: 30_000,
            max_header_bytes: 16 * 1024,
            token_cache_entries: 100_000,
            leeway_secs: 30,
            jwks_refetch_min_interval_secs: 30,
            rate_limit_max_keys: 100_000,
            tls_cert_file: None,
            tls_key_file: None,
            ca_file: None,
            issuers: Vec::new(),
            routes: Vec::new(),
            session: None,
            redis: None,
        }
    }
}

/// The secret DPoP nonces are tagged with; its `Debug` never shows it.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct NonceSecret(pub String);

impl std::fmt::Debug for NonceSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("NonceSecret(<redacted>)")
    }
}

/// Request headers with `_` in their names: CGI, WSGI, Rack and PHP backends read `X_User_Id`
/// and `X-User-Id` as the same variable (`HTTP_X_USER_ID`), so such a header can impersonate one
/// the gateway strips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnderscoreHeaders {
    /// Removed from the request (nginx's `underscores_in_headers off`).
    Drop,
    /// The request is refused with 400 (Envoy's `REJECT_REQUEST`).
    Reject,
    /// Forwarded; names that fold into a stripped one are still removed.
    Allow,
}

/// `[[gateway.issuers]]`: a token issuer and where its keys come from. Exactly one of
/// `discovery` (the default: `<issuer>/.well-known/oauth-authorization-server`), `jwks_url` or
/// `jwks_file` provides the keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` value.
    pub issuer: String,
    /// A JWKS URL, instead of discovery.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A local JWKS file (offline deployments, benchmarks), instead of discovery.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The audience every token of this issuer must carry: this gateway's resource identifier.
    /// Required (RFC 9068 §4: a resource server must check that it is among the token's
    /// audiences); an issuer without one is a configuration error.
    #[serde(default)]
    pub audience: Option<String>,
    /// Follow this issuer's revocation feed.
    #[serde(default)]
    pub revocation_feed: Option<RevocationFeedConfig>,
    /// The issuer signs JWT access tokens, verified with its keys (the default). Off: its tokens
    /// are opaque, no keys are fetched, and `introspection` is required.
    #[serde(default = "default_true")]
    pub jwt: bool,
    /// Ask the issuer about opaque tokens (RFC 7662).
    #[serde(default)]
    pub introspection: Option<IntrospectionConfig>,
}

impl IssuerConfig {
    /// An issuer of JWTs found by discovery, whose tokens must carry `audience`.
    pub fn new(issuer: &str, audience: &str) -> Self {
        IssuerConfig {
            issuer: issuer.to_owned(),
            jwks_url: None,
            jwks_file: None,
            audience: Some(audience.to_owned()),
            revocation_feed: None,
            jwt: true,
            introspection: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// `[gateway.issuers.introspection]`: how to ask an issuer about its opaque tokens (RFC 7662).
/// A token that is not one of the JWTs the gateway verifies itself goes to the introspecting
/// issuer whose `token_prefix` it starts with, else to the one issuer without a prefix.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    /// The introspection endpoint.
    pub url: String,
    /// The gateway's client at the issuer (authenticated with HTTP Basic).
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Only tokens starting with this go to this issuer (such as `pcl_pat_`).
    #[serde(default)]
    pub token_prefix: Option<String>,
    /// An active answer is used for at most this long (and never past the token's `exp`).
    #[serde(default = "default_introspection_cache_secs")]
    pub cache_secs: i64,
    /// An inactive answer is remembered this long.
    #[serde(default = "default_negative_cache_secs")]
    pub negative_cache_secs: i64,
}

impl std::fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("token_prefix", &self.token_prefix)
            .field("cache_secs", &self.cache_secs)
            .field("negative_cache_secs", &self.negative_cache_secs)
            .finish()
    }
}

fn default_introspection_cache_secs() -> i64 {
    30
}

fn default_negative_cache_secs() -> i64 {
    5
}

/// How to read an issuer's revocation feed (`GET <issuer>/revocations`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationFeedConfig {
    /// A client allowed the scope `portcullis:revocations`.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// Poll interval.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
}

impl std::fmt::Debug for RevocationFeedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationFeedConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("poll_interval_ms", &self.poll_interval_ms)
            .finish()
    }
}

fn default_poll_interval_ms() -> u64 {
    500
}

/// `[gateway.session]`: the gateway as a confidential OpenID Connect client (the
/// backend-for-frontend pattern): it signs browsers in with Authorization Code + PKCE, keeps
/// their tokens server-side (in memory; in a cluster's Redis) and forwards their requests with a
/// fresh access token. Its redirect URI is `<public_url>/_portcullis/callback`; its back-channel
/// logout URI `<public_url>/_portcullis/backchannel-logout`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// The OpenID provider (discovered); also among `[[gateway.issuers]]`, which verifies the
    /// access tokens it issues.
    pub issuer: String,
    /// The gateway's client at the provider.
    pub client_id: String,
    /// Its secret (`client_secret_basic`).
    pub client_secret: String,
    /// Scopes asked for; `openid` is required.
    #[serde(default = "default_session_scopes")]
    pub scopes: Vec<String>,
    /// A session unused this long ends.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in, used or not.
    #[serde(default = "default_absolute_timeout_secs")]
    pub absolute_timeout_secs: i64,
    /// The access token is refreshed when it expires within this long.
    #[serde(default = "default_refresh_before_expiry_secs")]
    pub refresh_before_expiry_secs: i64,
    /// Sessions held at most; a sign-in beyond them gets 503.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
    /// Sessions of one user at most; a new one ends that user's oldest.
    #[serde(default = "default_sessions_per_user")]
    pub sessions_per_user: usize,
    /// Sign-ins on their way to the provider at most (each for ten minutes); beyond them the
    /// oldest is forgotten.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
    /// Where the provider sends the browser after `/_portcullis/logout` (registered there as a
    /// post-logout redirect URI); unset: the provider's own page.
    #[serde(default)]
    pub post_logout_redirect_uri: Option<String>,
    /// Origins besides `public_url` whose requests may use a session with unsafe methods
    /// (`POST`, `PUT`, `DELETE`, ...), such as a front end on another host of the same site.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

impl SessionConfig {
    /// Sessions at `issuer` for the client `client_id` with the defaults of the TOML form.
    pub fn new(issuer: &str, client_id: &str, client_secret: &str) -> Self {
        SessionConfig {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            scopes: default_session_scopes(),
            idle_timeout_secs: default_idle_timeout_secs(),
            absolute_timeout_secs: default_absolute_timeout_secs(),
            refresh_before_expiry_secs: default_refresh_before_expiry_secs(),
            max_sessions: default_max_sessions(),
            sessions_per_user: default_sessions_per_user(),
            max_pending: default_max_pending(),
            post_logout_redirect_uri: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

fn default_session_scopes() -> Vec<String> {
    vec!["openid".to_owned()]
}
fn default_idle_timeout_secs() -> i64 {
    60 * 60
}
fn default_absolute_timeout_secs() -> i64 {
    12 * 60 * 60
}
fn default_refresh_before_expiry_secs() -> i64 {
    30
}
fn default_max_sessions() -> usize {
    100_000
}
fn default_sessions_per_user() -> usize {
    10
}
fn default_max_pending() -> usize {
    10_000
}

/// `[[gateway.routes]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name in metrics and logs.
    pub name: String,
    /// Host to match (without port); any host when unset.
    #[serde(default)]
    pub host: Option<String>,
    /// Path prefix to match, on segment boundaries.
    pub path_prefix: String,
    /// Remove the prefix before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Upstream base URLs, used round-robin. None: the route only answers the forward-auth
    /// listener (a proxy in front forwards its requests), and the public listener has no route
    /// for them.
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// Upstream connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Time allowed for the upstream's response headers.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest request body forwarded.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// `public` or `authenticated`.
    #[serde(default = "default_auth")]
    pub auth: String,
    /// Browsers without a token are signed in through `[gateway.session]` and their session
    /// cookie stands for the token (an authenticated route only).
    #[serde(default)]
    pub session: bool,
    /// Every one of these scopes is required.
    #[serde(default)]
    pub scopes_all: Vec<String>,
    /// At least one of these scopes is required.
    #[serde(default)]
    pub scopes_any: Vec<String>,
    /// At least one of these roles is required.
    #[serde(default)]
    pub roles_any: Vec<String>,
    /// Every one of these roles is required.
    #[serde(default)]
    pub roles_all: Vec<String>,
    /// The token's `aud` must contain this. Unset: the route's `resource`, or else the
    /// issuer's `audience`.
    #[serde(default)]
    pub audience: Option<String>,
    /// The route's resource identifier (RFC 8707, RFC 9728): an `http(s)` URL such as
    /// `https://api.example.com/mcp`. Tokens must carry it in `aud`; its metadata is served at
    /// `/.well-known/oauth-protected-resource/mcp` and named in the route's 401s.
    #[serde(default)]
    pub resource: Option<String>,
    /// Scopes the resource metadata offers besides those the route requires (RFC 9728
    /// `scopes_supported`), such as `offline_access` so that clients ask for a refresh token.
    #[serde(default)]
    pub resource_scopes: Vec<String>,
    /// Accept only DPoP-bound tokens presented with their proof (RFC 9449).
    #[serde(default)]
    pub require_dpop: bool,
    /// Accept only tokens of these issuers (among `[[gateway.issuers]]`); empty: any of them.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// The token's `acr` must be one of these (RFC 9470 step-up); also what a refused client is
    /// told to ask for (`acr_values`).
    #[serde(default)]
    pub require_acr: Vec<String>,
    /// The token's `amr` must hold every one of these (e.g. `mfa`).
    #[serde(default)]
    pub require_amr: Vec<String>,
    /// The user must have signed in at most this many seconds ago (the token's `auth_time`).
    #[serde(default)]
    pub max_auth_age_secs: Option<i64>,
    /// Rate limit.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// Accept paths with an encoded `/` or `\` (`%2F`, `%5C`), a raw `\` or a double-encoded
    /// one, forwarded as they are. Off: such paths get 400, since upstreams disagree on whether
    /// they separate segments.
    #[serde(default)]
    pub allow_encoded_slashes: bool,
    /// Protocols a request may upgrade to (RFC 9110 §7.8); any other `Upgrade` is removed and
    /// the request forwarded as an ordinary one.
    #[serde(default = "default_upgrades")]
    pub upgrades: Vec<String>,
    /// PEM bundle of the CAs trusted for this route's `https://` upstreams, instead of the
    /// gateway's `ca_file` (or the system's roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate presented to this route's `https://` upstreams (mutual TLS), so a
    /// service can tell the gateway from anyone else.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`.
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

impl RouteConfig {
    /// An authenticated route with the same defaults as the TOML form.
    pub fn new(name: &str, path_prefix: &str, upstream: &str) -> Self {
        RouteConfig {
            name: name.to_owned(),
            host: None,
            path_prefix: path_prefix.to_owned(),
            strip_prefix: false,
            upstreams: vec![upstream.to_owned()],
            connect_timeout_ms: default_connect_timeout_ms(),
            timeout_ms: default_timeout_ms(),
            max_body_bytes: default_max_body_bytes(),
            auth: default_auth(),
            session: false,
            scopes_all: Vec::new(),
            scopes_any: Vec::new(),
            roles_any: Vec::new(),
            roles_all: Vec::new(),
            audience: None,
            resource: None,
            resource_scopes: Vec::new(),
            require_dpop: false,
            issuers: Vec::new(),
            require_acr: Vec::new(),
            require_amr: Vec::new(),
            max_auth_age_secs: None,
            rate_limit: None,
            allow_encoded_slashes: false,
            upgrades: default_upgrades(),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
        }
    }

    /// The same route, public.
    pub fn public(self) -> Self {
        RouteConfig {
            auth: "public".to_owned(),
            ..self
        }
    }
}

fn default_connect_timeout_ms() -> u64 {
    2_000
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_auth() -> String {
    "authenticated".to_owned()
}
fn default_upgrades() -> Vec<String> {
    vec!["websocket".to_owned()]
}

/// `[gateway.routes.rate_limit]`: `requests` per `per_secs`, with bursts up to `burst`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed per window.
    pub requests: u32,
    /// Window in seconds.
    pub per_secs: u32,
    /// Requests that may arrive at once (default: `requests`).
    #[serde(default)]
    pub burst: Option<u32>,
    /// `subject`, `client` or `ip`.
    #[serde(default = "default_rate_key")]
    pub key: String,
}

fn default_rate_key() -> String {
    "ip".to_owned()
}
