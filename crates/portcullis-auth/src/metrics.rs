//! Prometheus metrics of the auth server, rendered in the text exposition format at `/metrics`.

use crate::route_metrics::RouteName;
use axum::http::Method;
use portcullis_core::{OutboxStatus, UnixSeconds};
use portcullis_service::tokens::TokenMetrics;
use portcullis_service::{DeliveryMetrics, DeliveryReport};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: RouteName,
    method: &'static str,
    status: u16,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: RouteName,
}

/// Labels of an issued token.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

/// Labels of a token endpoint failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_latency: LatencyFamily,
    tokens_issued: Family<GrantLabels, Counter>,
    token_failures: Family<ErrorLabels, Counter>,
    email: EmailMetrics,
}

/// The email outbox's figures.
#[derive(Default)]
struct EmailMetrics {
    pending: Gauge,
    oldest_age: Gauge,
    sent: Counter,
    postponed: Counter,
    dropped: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_latency: LatencyFamily = Family::new_with_constructor(latency_histogram);
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        let token_failures = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued by grant type",
            tokens_issued.clone(),
        );
        registry.register(
            "token_failures",
            "Token endpoint failures by OAuth error code",
            token_failures.clone(),
        );
        let email = EmailMetrics::default();
        registry.register(
            "email_outbox_pending",
            "Outgoing emails not yet accepted by the SMTP server",
            email.pending.clone(),
        );
        registry.register(
            "email_outbox_oldest_age_seconds",
            "How long the oldest pending email has waited (0 when none); alert when it grows",
            email.oldest_age.clone(),
        );
        registry.register(
            "emails_sent",
            "Emails accepted by the SMTP server",
            email.sent.clone(),
        );
        registry.register(
            "email_attempts_postponed",
            "Email attempts that failed for now and will be retried",
            email.postponed.clone(),
        );
        registry.register(
            "emails_dropped",
            "Emails the SMTP server refused for good",
            email.dropped.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_latency,
            tokens_issued,
            token_failures,
            email,
        }
    }
}

impl TokenMetrics for Metrics {
    fn token_issued(&self, grant_type: &'static str) {
        self.tokens_issued
            .get_or_create(&GrantLabels { grant_type })
            .inc();
    }
}

impl DeliveryMetrics for Metrics {
    fn delivery_round(&self, report: &DeliveryReport, status: &OutboxStatus, now: UnixSeconds) {
        self.email.sent.inc_by(u64::from(report.sent));
        self.email.postponed.inc_by(u64::from(report.postponed));
        self.email.dropped.inc_by(u64::from(report.dropped));
        self.email
            .pending
            .set(i64::try_from(status.pending).unwrap_or(i64::MAX));
        self.email.oldest_age.set(
            status
                .oldest_created_at
                .map_or(0, |created| (now - created).max(0)),
        );
    }
}

impl Metrics {
    /// Counts a token endpoint failure.
    pub fn token_failed(&self, error: &'static str) {
        self.token_failures
            .get_or_create(&ErrorLabels { error })
            .inc();
    }

    /// Counts an answered request and observes its latency, by its route pattern (never the raw
    /// path) and method label (never a raw method), so clients cannot create unbounded label
    /// values.
    pub(crate) fn observe_request(
        &self,
        route: RouteName,
        method: &Method,
        status: u16,
        elapsed: Duration,
    ) {
        self.http_latency
            .get_or_create(&RouteLabels {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.http_requests
            .get_or_create(&HttpLabels {
                route,
                method: method_label(method),
                status,
            })
            .inc();
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        text
    }
}

/// The method as a label: the methods of RFC 9110 §9 and PATCH by name, any other as `other`, so
/// clients inventing methods cannot create label values (and memory) without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        for invented in ["FOO", "get", "X1234567"] {
            let method = Method::from_bytes(invented.as_bytes()).unwrap_or_default();
            assert_eq!(method_label(&method), "other", "{invented}");
        }
    }
}
