//! `Identity` as an axum extractor: any state from which an `Arc<Verifier>` can be taken.

use crate::{AuthError, Identity, Verifier, unix_now};
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
