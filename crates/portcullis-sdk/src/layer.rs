//! A tower layer that identifies every request before it reaches the service: unidentified
//! requests are answered with the RFC 6750 error, identified ones carry their [`Identity`] in the
//! request extensions (and the `Identity` extractor takes it from there without verifying again).

use crate::unix_now;
use crate::{Identity, Verifier};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// Requires an identity on every request of the wrapped service.
#[derive(Debug, Clone)]
pub struct RequireIdentityLayer {
    verifier: Arc<Verifier>,
}

impl RequireIdentityLayer {
    /// A layer identifying callers with `verifier`.
    pub fn new(verifier: Arc<Verifier>) -> Self {
        RequireIdentityLayer { verifier }
    }
}

impl<S> Layer<S> for RequireIdentityLayer {
    type Service = RequireIdentity<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireIdentity {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service built by [`RequireIdentityLayer`].
#[derive(Debug, Clone)]
pub struct RequireIdentity<S> {
    inner: S,
    verifier: Arc<Verifier>,
}

impl<S> Service<Request> for RequireIdentity<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let identified = verifier
                .identify_request(
                    request.method(),
                    request.uri(),
                    request.headers(),
                    unix_now(),
                )
                .await;
            match identified {
                Ok(identity) => {
                    request.extensions_mut().insert::<Identity>(identity);
                    inner.call(request).await
                }
                Err(error) => Ok(error.into_response()),
            }
        })
    }
}
