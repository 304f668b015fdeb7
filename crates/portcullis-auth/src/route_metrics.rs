//! Request metrics by route: [`TrackRequestsLayer`] wraps each route of the router (where axum has
//! set the matched route pattern) and counts every answer in the server's [`Metrics`]. Its future
//! is its own, so a request costs no boxed service or allocation of its own here, and the labels
//! share the route pattern axum already holds instead of copying it.

use crate::metrics::Metrics;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use pin_project_lite::pin_project;
use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;
use tower::{Layer, Service};

/// A request's route pattern as a label value (never the raw path), `unmatched` for the fallback.
#[derive(Clone, Debug)]
pub(crate) struct RouteName(Option<MatchedPath>);

impl RouteName {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for RouteName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteName {}

impl Hash for RouteName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteName {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        self.as_str().encode(encoder)
    }
}

/// Layer of [`TrackRequests`], for `Router::layer`.
#[derive(Clone, Debug)]
pub struct TrackRequestsLayer {
    metrics: Arc<Metrics>,
}

impl TrackRequestsLayer {
    /// Counts into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        TrackRequestsLayer { metrics }
    }
}

impl<S> Layer<S> for TrackRequestsLayer {
    type Service = TrackRequests<S>;

    fn layer(&self, inner: S) -> TrackRequests<S> {
        TrackRequests {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// Service: counts each answer of the route it wraps, with its latency.
#[derive(Clone, Debug)]
pub struct TrackRequests<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for TrackRequests<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Tracked<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let route = RouteName(request.extensions().get::<MatchedPath>().cloned());
        let method = request.method().clone();
        let started = Instant::now();
        Tracked {
            inner: self.inner.call(request),
            metrics: self.metrics.clone(),
            route: Some(route),
            method,
            started,
        }
    }
}

pin_project! {
    /// The response future of [`TrackRequests`].
    pub struct Tracked<F> {
        #[pin]
        inner: F,
        metrics: Arc<Metrics>,
        route: Option<RouteName>,
        method: Method,
        started: Instant,
    }
}

impl<F, E> Future for Tracked<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        if let Some(route) = this.route.take() {
            this.metrics.observe_request(
                route,
                this.method,
                response.status().as_u16(),
                this.started.elapsed(),
            );
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn answers_are_counted_by_route_pattern_method_and_status() {
        let metrics = Arc::new(Metrics::default());
        let app = Router::new()
            .route("/items/{id}", get(|| async { "item" }))
            .layer(TrackRequestsLayer::new(metrics.clone()));
        for (method, uri) in [
            ("GET", "/items/1"),
            ("GET", "/items/2"),
            ("POST", "/items/3"),
            ("GET", "/nowhere/secret-token"),
            ("BREW", "/items/4"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap_or_default();
            let _ = app.clone().oneshot(request).await;
        }
        let text = metrics.render();
        for expected in [
            r#"portcullis_http_requests_total{route="/items/{id}",method="GET",status="200"} 2"#,
            r#"portcullis_http_requests_total{route="/items/{id}",method="POST",status="405"} 1"#,
            r#"portcullis_http_requests_total{route="/items/{id}",method="other",status="405"} 1"#,
            r#"portcullis_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            r#"portcullis_http_request_duration_seconds_count{route="/items/{id}"} 4"#,
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
        assert!(!text.contains("secret-token"), "{text}");
    }
}
