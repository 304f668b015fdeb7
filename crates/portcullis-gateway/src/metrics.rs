//! Prometheus metrics of the gateway, served on the admin listener.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{PoisonError, RwLock};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    issuer: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabel {
    issuer: String,
}

type HistogramFamily = Family<RouteLabel, Histogram, fn() -> Histogram>;

/// The gateway's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    auth_failures: Family<ReasonLabel, Counter>,
    upstream_latency: HistogramFamily,
    jwks_fetches: Family<FetchLabels, Counter>,
    introspections: Family<FetchLabels, Counter>,
    rate_limited: Family<RouteLabel, Counter>,
    feed_lag: Family<IssuerLabel, Gauge<f64, AtomicU64>>,
    redis_connected: Gauge,
    rate_limit_fallbacks: Counter,
    pushed_events: Family<ReasonLabel, Counter>,
    session_events: Family<ReasonLabel, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portcullis_gateway");
        let metrics = Metrics {
            requests: Family::default(),
            auth_failures: Family::default(),
            upstream_latency: Family::new_with_constructor(latency_histogram),
            jwks_fetches: Family::default(),
            introspections: Family::default(),
            rate_limited: Family::default(),
            feed_lag: Family::default(),
            redis_connected: Gauge::default(),
            rate_limit_fallbacks: Counter::default(),
            pushed_events: Family::default(),
            session_events: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "requests",
            "Requests by route and status",
            metrics.requests.clone(),
        );
        registry.register(
            "auth_failures",
            "Authentication and authorization failures by reason",
            metrics.auth_failures.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Upstream response time by route",
            metrics.upstream_latency.clone(),
        );
        registry.register(
            "jwks_fetches",
            "JWKS fetches by issuer and outcome",
            metrics.jwks_fetches.clone(),
        );
        registry.register(
            "introspections",
            "RFC 7662 introspection calls by issuer and outcome (active, inactive, failure)",
            metrics.introspections.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by rate limits, by route",
            metrics.rate_limited.clone(),
        );
        registry.register(
            "revocation_feed_lag_seconds",
            "Seconds since the revocation feed was last read",
            metrics.feed_lag.clone(),
        );
        registry.register(
            "redis_connected",
            "1 while the cluster announcements of Redis are followed, else 0",
            metrics.redis_connected.clone(),
        );
        registry.register(
            "rate_limit_local_fallbacks",
            "Rate-limit decisions made locally because Redis could not answer",
            metrics.rate_limit_fallbacks.clone(),
        );
        registry.register(
            "cluster_events",
            "Announcements received from Redis, by kind",
            metrics.pushed_events.clone(),
        );
        registry.register(
            "session_events",
            "Browser-session events by kind (signed_in, callback_refused, refreshed, refresh_refused, refresh_failed, logout, backchannel_logout, token_refused)",
            metrics.session_events.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// Records whether Redis announcements are being followed.
    pub fn redis_connected(&self, connected: bool) {
        self.redis_connected.set(i64::from(connected));
    }

    /// Whether Redis announcements are being followed.
    pub fn is_redis_connected(&self) -> bool {
        self.redis_connected.get() == 1
    }

    /// Counts a rate-limit decision made without Redis.
    pub fn rate_limit_fallback(&self) {
        self.rate_limit_fallbacks.inc();
    }

    /// Counts an announcement received from Redis.
    pub fn cluster_event(&self, kind: &str) {
        self.pushed_events
            .get_or_create(&ReasonLabel {
                reason: kind.to_owned(),
            })
            .inc();
    }

    /// Counts a browser-session event of `kind`.
    pub fn session_event(&self, kind: &str) {
        self.session_events
            .get_or_create(&ReasonLabel {
                reason: kind.to_owned(),
            })
            .inc();
    }

    /// Counts a finished request.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Counts an authentication or policy failure.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The metrics of the route named `route`, to record its requests without a lookup by label
    /// each time.
    pub fn route(&self, route: &str) -> RouteMetrics {
        let label = RouteLabel {
            route: route.to_owned(),
        };
        RouteMetrics {
            latency: self.upstream_latency.get_or_create(&label).clone(),
            route: label.route,
            requests: self.requests.clone(),
            by_status: RwLock::default(),
        }
    }

    /// Counts a JWKS fetch.
    pub fn jwks_fetch(&self, issuer: &str, success: bool) {
        let outcome = if success { "success" } else { "failure" };
        self.jwks_fetches
            .get_or_create(&FetchLabels {
                issuer: issuer.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts an introspection call and its outcome (`active`, `inactive`, `failure`).
    pub fn introspection(&self, issuer: &str, outcome: &str) {
        self.introspections
            .get_or_create(&FetchLabels {
                issuer: issuer.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a rate-limited request.
    pub fn rate_limited(&self, route: &str) {
        self.rate_limited
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .inc();
    }

    /// Records how stale the revocation feed is.
    pub fn revocation_feed_lag(&self, issuer: &str, seconds: f64) {
        self.feed_lag
            .get_or_create(&IssuerLabel {
                issuer: issuer.to_owned(),
            })
            .set(seconds);
    }

    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        text
    }
}

/// One route's series, resolved once ([`Metrics::route`]): the same counters and histogram that
/// `/metrics` renders, held directly, so a request costs no label allocation or hashing.
pub struct RouteMetrics {
    route: String,
    latency: Histogram,
    requests: Family<RequestLabels, Counter>,
    /// The request counters of the statuses seen so far.
    by_status: RwLock<Vec<(u16, Counter)>>,
}

impl std::fmt::Debug for RouteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteMetrics")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl RouteMetrics {
    /// Counts a finished request.
    pub fn request(&self, status: u16) {
        let counted = self
            .by_status
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(seen, _)| *seen == status)
            .map(|(_, counter)| counter.inc())
            .is_some();
        if counted {
            return;
        }
        let counter = self
            .requests
            .get_or_create(&RequestLabels {
                route: self.route.clone(),
                status,
            })
            .clone();
        counter.inc();
        let mut by_status = self
            .by_status
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if by_status.iter().all(|(seen, _)| *seen != status) {
            by_status.push((status, counter));
        }
    }

    /// Records an upstream response time.
    pub fn upstream_latency(&self, seconds: f64) {
        self.latency.observe(seconds);
    }
}
