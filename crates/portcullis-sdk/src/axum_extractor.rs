//! `Identity` as an axum extractor: any state from which an `Arc<Verifier>` can be taken.

use crate::{AuthError, Identity, Verifier};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use std::sync::Arc;

impl<S> FromRequestParts<S> for Identity
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Already identified by `RequireIdentityLayer`: do not verify twice.
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(identity.clone());
        }
        let verifier = Arc::<Verifier>::from_ref(state);
        verifier
            .identify_request(&parts.method, &parts.uri, &parts.headers, unix_now())
            .await
    }
}

/// The wall clock in Unix seconds.
#[allow(clippy::disallowed_methods)] // the SDK's one reading of the wall clock
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
