//! Request ids and the access log. Every request runs in a span carrying its id, so every log line
//! it causes can be correlated; the id (the caller's own if plain, else a new one, as
//! [`portcullis_sdk::request_id`] decides for the gateway too) is returned in `X-Request-Id`. Only
//! the path is logged, never the query string or headers, which may carry credentials.
//!
//! [`AssignRequestId`] wraps the whole application (not each route), with a future of its own: no
//! boxed service or future per request.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use pin_project_lite::pin_project;
use portcullis_sdk::request_id::{X_REQUEST_ID, request_id};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// Layer of [`AssignRequestId`].
#[derive(Clone, Copy, Debug, Default)]
pub struct AssignRequestIdLayer;

impl<S> Layer<S> for AssignRequestIdLayer {
    type Service = AssignRequestId<S>;

    fn layer(&self, inner: S) -> AssignRequestId<S> {
        AssignRequestId { inner }
    }
}

/// Service: assigns the request id, runs the request in its span, logs one access line per
/// request and returns the id in `X-Request-Id`.
#[derive(Clone, Debug)]
pub struct AssignRequestId<S> {
    inner: S,
}

impl<S> Service<Request> for AssignRequestId<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = WithRequestId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = request_id(request.headers());
        let span = tracing::info_span!(
            "request",
            request_id = %id.to_str().unwrap_or_default()
        );
        // Shared, not copied: the URI's parts are reference-counted slices of the request.
        let access = Some((request.method().clone(), request.uri().clone()));
        let started = Instant::now();
        let inner = span.in_scope(|| self.inner.call(request));
        WithRequestId {
            inner: inner.instrument(span),
            id,
            access,
            started,
        }
    }
}

pin_project! {
    /// The response future of [`AssignRequestId`]: the request's future in its span (entered on
    /// every poll and while it is dropped).
    pub struct WithRequestId<F> {
        #[pin]
        inner: Instrumented<F>,
        id: HeaderValue,
        access: Option<(Method, Uri)>,
        started: Instant,
    }
}

impl<F, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut response = ready!(this.inner.as_mut().poll(cx))?;
        if let Some((method, uri)) = this.access.take() {
            let _entered = this.inner.span().enter();
            // Only the path: the query string may carry credentials.
            let path = uri.path();
            tracing::info!(
                %method,
                %path,
                status = response.status().as_u16(),
                micros = u64::try_from(this.started.elapsed().as_micros()).unwrap_or(u64::MAX),
                "request"
            );
        }
        response.headers_mut().insert(X_REQUEST_ID, this.id.clone());
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::convert::Infallible;
    use tower::ServiceExt;

    async fn answered_id(sent: Option<&str>) -> String {
        let service = AssignRequestIdLayer.layer(tower::service_fn(|_: Request| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }));
        let mut request = Request::new(Body::empty());
        if let Some(sent) = sent {
            request.headers_mut().insert(
                X_REQUEST_ID,
                HeaderValue::from_str(sent).unwrap_or_else(|_| HeaderValue::from_static("x")),
            );
        }
        let response = service
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        response
            .headers()
            .get(X_REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn a_plain_id_is_echoed_and_any_other_replaced() {
        assert_eq!(answered_id(Some("trace-42.a_b")).await, "trace-42.a_b");
        for refused in [None, Some("two words"), Some("with\"quote")] {
            let id = answered_id(refused).await;
            assert_eq!(id.len(), 16, "{refused:?} → {id}");
        }
        assert_ne!(answered_id(None).await, answered_id(None).await);
    }
}
