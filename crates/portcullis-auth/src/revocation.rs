//! Putting tokens on the revocation list that introspection, userinfo and gateways (through the
//! feed) consult. Entries are kept only until the tokens they match would have expired anyway.
//! These functions take the store and the time, so the admin CLI revokes exactly as the server does.

use portcullis_core::{RefreshTokenFamily, RevocationKind, UnixSeconds};
use portcullis_store::{Store, StoreError};

/// Revokes one access token by `jti` until its expiry.
///
/// # Errors
/// Store failures.
pub async fn revoke_access_token(
    store: &dyn Store,
    jti: &str,
    expires_at: UnixSeconds,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    if expires_at <= now {
        return Ok(());
    }
    store
        .add_revocation(RevocationKind::TokenId, jti, expires_at, now)
        .await
        .map(drop)
}

/// Revokes a refresh token family and the newest access token issued from it.
///
/// # Errors
/// Store failures.
pub async fn revoke_family(
    store: &dyn Store,
    family: &RefreshTokenFamily,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    store.revoke_family(&family.id, now).await?;
    if let Some((jti, expires_at)) = &family.last_access_token {
        revoke_access_token(store, jti, *expires_at, now).await?;
    }
    Ok(())
}

/// Ends a session and revokes every token of it: the session record, its refresh families with
/// their newest access tokens, and the `sid` itself on the feed until `horizon` (when every access
/// token of the session has expired). Returns whether the session existed.
///
/// # Errors
/// Store failures.
pub async fn revoke_session(
    store: &dyn Store,
    sid: &str,
    now: UnixSeconds,
    horizon: UnixSeconds,
) -> Result<bool, StoreError> {
    let existed = store.delete_session(sid).await?.is_some();
    for family in store.revoke_families_of_session(sid, now).await? {
        if let Some((jti, expires_at)) = &family.last_access_token {
            revoke_access_token(store, jti, *expires_at, now).await?;
        }
    }
    store
        .add_revocation(RevocationKind::Session, sid, horizon, now)
        .await?;
    Ok(existed)
}
