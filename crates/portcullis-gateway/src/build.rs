//! Assembling and starting a gateway from its configuration.

use crate::authenticate::Authenticator;
use crate::cluster::GatewayEvents;
use crate::config::{GatewayConfig, IntrospectionConfig};
use crate::introspection::Introspector;
use crate::metrics::Metrics;
use crate::pipeline::{Gateway, PipelineSettings};
use crate::rate_limit::{LocalRateLimiter, RateLimiter};
use crate::revocations::{RevocationSet, follow_feed};
use crate::routes::{RouteError, RouteTable};
use crate::server::{ConnectionLimits, serve};
use crate::session::memory::MemorySessionStore;
use crate::session::{Sessions, store_limits};
use crate::shared_rate_limit::SharedRateLimiter;
use axum::http::HeaderName;
use portcullis_core::dpop_nonce::DpopNonces;
use portcullis_core::replay::{PROOFS_REMEMBERED, ReplayWindow};
use portcullis_jose::MacKey;
use portcullis_jose::remote_key_set::{KeySource, RemoteKeySet};
use portcullis_redis::RedisReplay;
use portcullis_redis::{RedisGatewaySessions, RedisGcra, RedisLink, follow_events};
use portcullis_service::ProofReplay;
use portcullis_service::ports::GatewaySessionStore;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Why a gateway could not start.
#[derive(Debug, Error)]
pub enum StartError {
    /// The routes are invalid.
    #[error(transparent)]
    Routes(#[from] RouteError),
    /// An issuer is misconfigured.
    #[error("issuer `{0}`: {1}")]
    Issuer(String, String),
    /// A header name is invalid.
    #[error("strip_headers: `{0}` is not a header name")]
    HeaderName(String),
    /// A trusted proxy is not an address or range.
    #[error("trusted_proxies: {0}")]
    TrustedProxies(String),
    /// A listener could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// The DPoP nonce key could not be made.
    #[error("dpop_nonce: {0}")]
    DpopNonce(String),
    /// The Redis URL is invalid.
    #[error("redis: {0}")]
    Redis(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
    /// An `api_key_header` that is reserved, stripped or not a header name.
    #[error("api_key_header: `{0}` cannot carry API keys (a reserved, stripped or invalid name)")]
    ApiKeyHeader(String),
    /// Introspecting issuers that cannot be told apart.
    #[error("introspection: {0}")]
    Introspection(String),
    /// `[gateway.session]` is misconfigured.
    #[error("session: {0}")]
    Session(String),
    /// `public_url` is not an origin.
    #[error("public_url must be an origin such as https://api.example.com, not `{0}`")]
    PublicUrl(String),
}

/// A gateway that is serving.
pub struct RunningGateway {
    /// The public address.
    pub address: SocketAddr,
    /// The admin address.
    pub admin_address: SocketAddr,
    /// Where the forward-auth listener listens, when configured.
    pub forward_auth_address: Option<SocketAddr>,
    /// The pipeline, for reloads.
    pub gateway: Arc<Gateway>,
    task: JoinHandle<std::io::Result<()>>,
    stop_feeds: watch::Sender<bool>,
    feeds: Vec<JoinHandle<()>>,
}

impl RunningGateway {
    /// Swaps in the routes of `config` without dropping connections.
    ///
    /// # Errors
    /// An invalid route table; the running one stays.
    pub fn reload_routes(&self, config: &GatewayConfig) -> Result<(), RouteError> {
        let routes = RouteTable::build(config)?;
        self.gateway.replace_routes(routes);
        Ok(())
    }

    /// Waits until the server has stopped (after its shutdown signal) and stops the feeds.
    ///
    /// # Errors
    /// Listener errors.
    pub async fn finished(self) -> std::io::Result<()> {
        let result = self.task.await.map_err(std::io::Error::other)?;
        let _ = self.stop_feeds.send(true);
        for feed in self.feeds {
            let _ = feed.await;
        }
        result
    }
}

/// Builds the gateway, loads issuer keys (best effort: an unreachable issuer is retried when
/// tokens arrive, and answered with 503 until then), starts revocation feeds and the listeners.
///
/// # Errors
/// [`StartError`].
pub async fn start(
    config: &GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningGateway, StartError> {
    let routes = RouteTable::build(config)?;
    let public_origin = config
        .public_url
        .as_deref()
        .map(|url| {
            crate::request_target::origin(url).ok_or_else(|| StartError::PublicUrl(url.to_owned()))
        })
        .transpose()?;
    let trusted_proxies = portcullis_core::TrustedProxies::parse(&config.trusted_proxies)
        .map_err(StartError::TrustedProxies)?;
    let metrics = Arc::new(Metrics::default());
    // Issuer discovery, JWKS and revocation feeds trust what https upstreams trust.
    let tls = match &config.ca_file {
        Some(_) => Some(
            portcullis_tls::client_config(&portcullis_tls::ClientTls {
                ca_file: config.ca_file.clone(),
                identity: None,
            })
            .map_err(|error| StartError::Tls(error.to_string()))?,
        ),
        None => None,
    };
    let client = |redirects: reqwest::redirect::Policy| {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(redirects);
        if let Some(tls) = &tls {
            builder = builder.tls_backend_preconfigured(Arc::unwrap_or_clone(tls.clone()));
        }
        builder
            .build()
            .map_err(|error| StartError::Client(error.to_string()))
    };
    let http = client(reqwest::redirect::Policy::default())?;
    // A redirect would send the token (and the gateway's secret) elsewhere.
    let introspection_http = client(reqwest::redirect::Policy::none())?;
    let observer_metrics = metrics.clone();
    let fetch_observer: portcullis_jose::remote_key_set::FetchObserver =
        Arc::new(move |issuer: &str, success: bool| observer_metrics.jwks_fetch(issuer, success));
    let mut issuers = Vec::new();
    let mut introspectors = Vec::new();
    for (index, issuer) in config.issuers.iter().enumerate() {
        if config.issuers[..index]
            .iter()
            .any(|earlier| earlier.issuer == issuer.issuer)
        {
            return Err(StartError::Issuer(
                issuer.issuer.clone(),
                "configured twice".into(),
            ));
        }
        let fail = |problem: &str| StartError::Issuer(issuer.issuer.clone(), problem.to_owned());
        // RFC 9068 §4: the resource server MUST validate that the token's audience names it.
        if issuer.audience.as_deref().is_none_or(str::is_empty) {
            return Err(fail(
                "audience is required: the resource identifier this gateway's tokens must carry (RFC 9068 §4)",
            ));
        }
        let audience = issuer.audience.clone().unwrap_or_default();
        if let Some(introspection) = &issuer.introspection {
            check_introspection(introspection).map_err(fail)?;
            introspectors.push((
                Introspector::new(
                    issuer.issuer.clone(),
                    introspection.clone(),
                    introspection_http.clone(),
                    metrics.clone(),
                ),
                audience.clone(),
            ));
        } else if !issuer.jwt {
            return Err(fail(
                "an issuer without JWTs needs introspection for its opaque tokens",
            ));
        }
        if !issuer.jwt {
            if issuer.jwks_url.is_some() || issuer.jwks_file.is_some() {
                return Err(fail("jwks_url and jwks_file are for issuers of JWTs"));
            }
            continue;
        }
        let source = match (&issuer.jwks_url, &issuer.jwks_file) {
            (None, None) => KeySource::Discovery,
            (Some(url), None) => KeySource::JwksUrl(url.clone()),
            (None, Some(path)) => KeySource::File(path.clone()),
            (Some(_), Some(_)) => return Err(fail("set jwks_url or jwks_file, not both")),
        };
        let keys = Arc::new(RemoteKeySet::new(
            issuer.issuer.clone(),
            // Checked per route (`Authenticator::new`).
            None,
            source,
            Duration::from_secs(config.jwks_refetch_min_interval_secs),
            http.clone(),
            Some(fetch_observer.clone()),
        ));
        if let Err(error) = keys.refresh().await {
            tracing::warn!(issuer = %issuer.issuer, %error, "issuer keys not loaded yet; tokens get 503 until they are");
        }
        issuers.push((keys, audience));
    }
    let mut prefixes: Vec<Option<&str>> = config
        .issuers
        .iter()
        .filter_map(|issuer| issuer.introspection.as_ref())
        .map(|introspection| introspection.token_prefix.as_deref())
        .collect();
    prefixes.sort_unstable();
    if prefixes.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(StartError::Introspection(
            "two introspecting issuers share a token_prefix (or both have none)".into(),
        ));
    }
    let strip_headers = config
        .strip_headers
        .iter()
        .map(|name| {
            // Compared with `_` read as `-` (see `identity::strip_spoofable_headers`).
            HeaderName::from_bytes(name.to_ascii_lowercase().replace('_', "-").as_bytes())
                .map_err(|_| StartError::HeaderName(name.clone()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let revocations = Arc::new(RevocationSet::new(config.leeway_secs));
    let api_key_header = config
        .api_key_header
        .as_deref()
        .map(|name| api_key_header(name, &strip_headers))
        .transpose()?;
    let authenticator = Authenticator::new(
        issuers,
        introspectors,
        revocations.clone(),
        config.leeway_secs,
        config.token_cache_entries,
    )
    .with_api_key_header(api_key_header);
    let local_limiter = LocalRateLimiter::new(config.rate_limit_max_keys);
    let redis_link = config
        .redis
        .as_ref()
        .map(|redis| RedisLink::new(redis).map(Arc::new))
        .transpose()
        .map_err(|error| StartError::Redis(error.to_string()))?;
    let (rate_limiter, proof_replay): (Box<dyn RateLimiter>, Arc<dyn ProofReplay>) =
        match (&config.redis, &redis_link) {
            (Some(redis), Some(link)) => {
                let link = link.clone();
                (
                    Box::new(SharedRateLimiter::new(
                        RedisGcra::new(link.clone(), &redis.prefix),
                        local_limiter,
                        metrics.clone(),
                    )),
                    Arc::new(RedisReplay::new(link, &redis.prefix)),
                )
            }
            _ => (
                Box::new(local_limiter),
                Arc::new(ReplayWindow::new(PROOFS_REMEMBERED)),
            ),
        };
    let sessions = match &config.session {
        Some(session) => Some(Arc::new(sessions(
            config,
            session,
            public_origin.as_deref(),
            introspection_http.clone(),
            proof_replay.clone(),
            redis_link,
            metrics.clone(),
        )?)),
        None => None,
    };
    let gateway = Arc::new(Gateway::new(
        routes,
        authenticator,
        rate_limiter,
        metrics.clone(),
        PipelineSettings {
            strip_headers,
            underscores: config.headers_with_underscores,
            trusted_proxies,
            forward_authorization: config.forward_authorization,
            follows_redis: config.redis.is_some(),
            https: config.tls_cert_file.is_some(),
            public_origin,
            leeway_secs: config.leeway_secs,
            proof_replay,
            dpop_nonces: dpop_nonces(config)?,
            sessions: sessions.clone(),
        },
    ));
    let (stop_feeds, feeds_stopped) = watch::channel(false);
    let feed_nudge = Arc::new(Notify::new());
    let mut feeds: Vec<JoinHandle<()>> = config
        .issuers
        .iter()
        .filter_map(|issuer| {
            issuer
                .revocation_feed
                .clone()
                .map(|feed| (issuer.issuer.clone(), feed))
        })
        .map(|(issuer, feed)| {
            tokio::spawn(follow_feed(
                issuer,
                feed,
                revocations.clone(),
                http.clone(),
                metrics.clone(),
                feed_nudge.clone(),
                feeds_stopped.clone(),
            ))
        })
        .collect();
    if let Some(sessions) = sessions {
        feeds.push(tokio::spawn(purge_sessions(
            sessions,
            feeds_stopped.clone(),
        )));
    }
    if let Some(redis) = &config.redis {
        let events = GatewayEvents {
            issuers: gateway.authenticator.issuers().cloned().collect(),
            revocations: revocations.clone(),
            feed_nudge,
            metrics: metrics.clone(),
        };
        feeds.push(tokio::spawn(follow_events(
            redis.clone(),
            Arc::new(events),
            feeds_stopped.clone(),
        )));
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|error| StartError::Listen(config.listen, error))?;
    let admin_listener = TcpListener::bind(config.admin_listen)
        .await
        .map_err(|error| StartError::Listen(config.admin_listen, error))?;
    let address = listener
        .local_addr()
        .map_err(|error| StartError::Listen(config.listen, error))?;
    let admin_address = admin_listener
        .local_addr()
        .map_err(|error| StartError::Listen(config.admin_listen, error))?;
    let forward_auth_listener = match config.forward_auth_listen {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .map_err(|error| StartError::Listen(address, error))?,
        ),
        None => None,
    };
    let forward_auth_address = forward_auth_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()
        .map_err(|error| {
            StartError::Listen(config.forward_auth_listen.unwrap_or(config.listen), error)
        })?;
    let limits = ConnectionLimits {
        max_connections: config.max_connections,
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        http2_idle_timeout: Duration::from_millis(config.http2_idle_timeout_ms.max(1)),
        http2_keepalive_interval: (config.http2_keepalive_interval_ms > 0)
            .then(|| Duration::from_millis(config.http2_keepalive_interval_ms)),
        max_header_bytes: config.max_header_bytes,
        drain_timeout: Duration::from_secs(30),
        workers: config.workers,
    };
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(
            portcullis_tls::acceptor(cert, key)
                .map_err(|error| StartError::Tls(error.to_string()))?,
        ),
        _ => {
            return Err(StartError::Tls(
                "set both tls_cert_file and tls_key_file".into(),
            ));
        }
    };
    let task = tokio::spawn(serve(
        gateway.clone(),
        limits,
        tls,
        listener,
        admin_listener,
        forward_auth_listener,
        shutdown,
    ));
    Ok(RunningGateway {
        address,
        admin_address,
        forward_auth_address,
        gateway,
        task,
        stop_feeds,
        feeds,
    })
}

/// The browser sessions of `session`: its issuer must be one whose tokens the gateway accepts
/// (its access tokens pass the routes' policies like any other), and the gateway must know its
/// own origin (the redirect URI and the cookies' site).
fn sessions(
    config: &GatewayConfig,
    session: &crate::config::SessionConfig,
    public_origin: Option<&str>,
    http: reqwest::Client,
    replay: Arc<dyn ProofReplay>,
    redis_link: Option<Arc<RedisLink>>,
    metrics: Arc<Metrics>,
) -> Result<Sessions, StartError> {
    let fail = |problem: &str| StartError::Session(problem.to_owned());
    if !config
        .issuers
        .iter()
        .any(|issuer| issuer.issuer == session.issuer)
    {
        return Err(fail(
            "issuer must be among [[gateway.issuers]], which verify its access tokens",
        ));
    }
    let public_origin = public_origin.ok_or_else(|| {
        fail("public_url is required: the redirect URI and the cookies are on it")
    })?;
    let limits = store_limits(session);
    let store: Arc<dyn GatewaySessionStore> = match (&config.redis, redis_link) {
        // A cluster's gateways share the sessions: any of them serves any browser.
        (Some(redis), Some(link)) => {
            Arc::new(RedisGatewaySessions::new(link, &redis.prefix, limits))
        }
        _ => Arc::new(MemorySessionStore::new(limits)),
    };
    Sessions::new(session, public_origin, http, store, replay, metrics).map_err(StartError::Session)
}

/// Forgets ended sessions and abandoned sign-ins once a minute, until `stopped` changes.
async fn purge_sessions(sessions: Arc<Sessions>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(60)) => {
                sessions.purge(crate::revocations::unix_now()).await;
            }
        }
    }
}

/// The header API keys come in: a plain name (no `_`), neither one the gateway strips (it would
/// never arrive) nor one with another meaning in HTTP or to the gateway.
fn api_key_header(name: &str, stripped: &[HeaderName]) -> Result<HeaderName, StartError> {
    const RESERVED: [&str; 10] = [
        "authorization",
        "cookie",
        "dpop",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "forwarded",
        "proxy-authorization",
    ];
    let lower = name.to_ascii_lowercase();
    let usable = !lower.contains('_')
        && !lower.starts_with(crate::identity::IDENTITY_HEADER_PREFIX)
        && !lower.starts_with("x-forwarded-")
        && !RESERVED.contains(&lower.as_str());
    HeaderName::from_bytes(lower.as_bytes())
        .ok()
        .filter(|header| usable && !stripped.contains(header))
        .ok_or_else(|| StartError::ApiKeyHeader(name.to_owned()))
}

/// What an issuer's `introspection` section must hold: an http(s) endpoint, a prefix that is not
/// empty, cache times within bounds (a revoked token is noticed within `cache_secs`).
fn check_introspection(introspection: &IntrospectionConfig) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(&introspection.url)
        .map_err(|_| "introspection.url must be an https URL")?;
    // Tokens and the gateway's secret travel to it: in clear text only on this machine.
    let loopback = url
        .host_str()
        .is_some_and(portcullis_core::network_address::is_loopback_host);
    let secure = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !secure || url.host().is_none() {
        return Err("introspection.url must be an https URL (http only to a loopback address)");
    }
    if introspection.token_prefix.as_deref() == Some("") {
        return Err("introspection.token_prefix cannot be empty (leave it out instead)");
    }
    if !(1..=300).contains(&introspection.cache_secs) {
        return Err("introspection.cache_secs must be 1 to 300");
    }
    if !(0..=60).contains(&introspection.negative_cache_secs) {
        return Err("introspection.negative_cache_secs must be 0 to 60");
    }
    Ok(())
}

/// The gateway's DPoP nonces, when `dpop_nonce` is on: tagged with `dpop_nonce_secret`, shared
/// by every gateway behind one address, or with a key of this process's own.
fn dpop_nonces(config: &GatewayConfig) -> Result<Option<Arc<DpopNonces>>, StartError> {
    if !config.dpop_nonce {
        return Ok(None);
    }
    let key = match &config.dpop_nonce_secret {
        Some(secret) => MacKey::from_secret(secret.0.as_bytes()),
        None => MacKey::random().map_err(|error| StartError::DpopNonce(error.to_string()))?,
    };
    Ok(Some(Arc::new(DpopNonces::new(key))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_come_in_a_plain_header_of_their_own() {
        let stripped = [HeaderName::from_static("x-user-id")];
        assert_eq!(
            api_key_header("X-API-Key", &stripped).expect("usable"),
            "x-api-key"
        );
        for refused in [
            "authorization",
            "Cookie",
            "dpop",
            "x_api_key",
            "x-portcullis-key",
            "x-forwarded-key",
            "x-user-id",
            "bad header",
        ] {
            assert!(api_key_header(refused, &stripped).is_err(), "{refused}");
        }
    }
}
