//! Putting tokens on the revocation list that introspection, userinfo and gateways (through the
//! feed) consult. Entries are kept only until the tokens they match would have expired anyway.
//! These functions take the store, the cluster announcer and the time, so the admin CLI revokes
//! exactly as the server does. Every stored entry is announced at once (gateways following Redis
//! reject the token within milliseconds); the feed remains the guaranteed path.

use portcullis_core::{
    ClusterAnnouncer, RefreshTokenFamily, RevocationEntry, RevocationKind, UnixSeconds,
};
use portcullis_store::{SessionStore, Store, StoreError};

/// Stores an entry and announces it.
///
/// # Errors
/// Store failures (nothing is announced then).
pub async fn add_revocation(
    store: &dyn Store,
    announcer: &dyn ClusterAnnouncer,
    kind: RevocationKind,
    value: &str,
    expires_at: UnixSeconds,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    let cursor = store.add_revocation(kind, value, expires_at, now).await?;
    announcer.revoked(&RevocationEntry {
        cursor,
        kind,
        value: value.to_owned(),
        expires_at,
    });
    Ok(())
}

/// Revokes one access token by `jti` until its expiry.
///
/// # Errors
/// Store failures.
pub async fn revoke_access_token(
    store: &dyn Store,
    announcer: &dyn ClusterAnnouncer,
    jti: &str,
    expires_at: UnixSeconds,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    if expires_at <= now {
        return Ok(());
    }
    add_revocation(
        store,
        announcer,
        RevocationKind::TokenId,
        jti,
        expires_at,
        now,
    )
    .await
}

/// Revokes a refresh token family and the newest access token issued from it.
///
/// # Errors
/// Store failures.
pub async fn revoke_family(
    store: &dyn Store,
    announcer: &dyn ClusterAnnouncer,
    family: &RefreshTokenFamily,
    now: UnixSeconds,
) -> Result<(), StoreError> {
    store.revoke_family(&family.id, now).await?;
    if let Some((jti, expires_at)) = &family.last_access_token {
        revoke_access_token(store, announcer, jti, *expires_at, now).await?;
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
    sessions: &dyn SessionStore,
    announcer: &dyn ClusterAnnouncer,
    sid: &str,
    now: UnixSeconds,
    horizon: UnixSeconds,
) -> Result<bool, StoreError> {
    let existed = sessions.delete_session(sid).await?.is_some();
    for family in store.revoke_families_of_session(sid, now).await? {
        if let Some((jti, expires_at)) = &family.last_access_token {
            revoke_access_token(store, announcer, jti, *expires_at, now).await?;
        }
    }
    add_revocation(store, announcer, RevocationKind::Session, sid, horizon, now).await?;
    Ok(existed)
}
