//! Putting tokens on the revocation list that introspection, userinfo and gateways (through the
//! feed) consult. The server and the admin CLI revoke through the same [`Revoker`], so both do it
//! the same way. Every stored entry is announced at once (gateways following Redis reject the
//! token within milliseconds); the feed remains the guaranteed path.
//!
//! An entry is kept until the tokens it matches have expired **and** the verifiers' leeway has
//! passed, since a verifier accepts a token that long past its `exp` (otherwise a revoked token
//! would work again for its last seconds).

use crate::{SessionStore, Store, StoreError};
use portcullis_core::{
    ClusterAnnouncer, IssuedAccessToken, RevocationEntry, RevocationKind, RevokedFamily,
    UnixSeconds,
};

/// Revokes tokens, sessions, grants and subjects.
pub struct Revoker<'a> {
    /// The store of the revocation list and the grants.
    pub store: &'a dyn Store,
    /// Where sessions live (the store, or a cluster's Redis).
    pub sessions: &'a dyn SessionStore,
    /// Tells gateways at once.
    pub announcer: &'a dyn ClusterAnnouncer,
    /// How long past `exp` verifiers still accept a token.
    pub leeway_secs: i64,
    /// The longest an access token lives: how long a session's or subject's entry is needed.
    pub max_access_token_lifetime_secs: i64,
}

impl Revoker<'_> {
    /// Stores an entry for tokens that expire by `last_expiry`, and announces it. Nothing is
    /// stored once those tokens are past the leeway.
    ///
    /// # Errors
    /// Store failures (nothing is announced then).
    pub async fn add(
        &self,
        kind: RevocationKind,
        value: &str,
        last_expiry: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let entry = RevocationEntry {
            kind,
            value: value.to_owned(),
            expires_at: last_expiry + self.leeway_secs,
        };
        if entry.expires_at <= now {
            return Ok(());
        }
        self.store.add_revocation(&entry, now).await?;
        self.announcer.revoked(&entry);
        Ok(())
    }

    /// Revokes access tokens by `jti`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_access_tokens(
        &self,
        tokens: &[IssuedAccessToken],
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        for token in tokens {
            self.add(RevocationKind::TokenId, &token.jti, token.expires_at, now)
                .await?;
        }
        Ok(())
    }

    /// Revokes every access token of families the store has just revoked.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_tokens_of(
        &self,
        families: &[RevokedFamily],
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        for revoked in families {
            self.revoke_access_tokens(&revoked.access_tokens, now)
                .await?;
        }
        Ok(())
    }

    /// Revokes a refresh token family and every access token issued from it.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_family(&self, family_id: &str, now: UnixSeconds) -> Result<(), StoreError> {
        let revoked = self.store.revoke_family(family_id, now).await?;
        self.revoke_tokens_of(revoked.as_slice(), now).await
    }

    /// Ends a session and revokes every token of it: the session record, its refresh families
    /// with their access tokens, and the `sid` itself until every access token of the session has
    /// expired. Its clients with a `backchannel_logout_uri` are queued to be told, first, so that
    /// a crash half-way leaves them told of an end rather than an ended session untold. Returns
    /// whether the session existed.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_session(&self, sid: &str, now: UnixSeconds) -> Result<bool, StoreError> {
        self.store.queue_logout_notices(sid, now).await?;
        let existed = self.sessions.delete_session(sid).await?.is_some();
        let families = self.store.revoke_families_of_session(sid, now).await?;
        self.revoke_tokens_of(&families, now).await?;
        self.add(
            RevocationKind::Session,
            sid,
            now + self.max_access_token_lifetime_secs,
            now,
        )
        .await?;
        Ok(existed)
    }

    /// Ends every session and refresh family of a user, revoking their tokens (after a password
    /// change: whoever knew the old password is signed out everywhere), and its pending address
    /// verification links. Returns how many sessions ended.
    ///
    /// # Errors
    /// Store failures.
    pub async fn end_everything_of_user(
        &self,
        user_id: &str,
        now: UnixSeconds,
    ) -> Result<usize, StoreError> {
        let sessions = self.sessions.list_sessions_of_user(user_id).await?;
        for session in &sessions {
            self.revoke_session(&session.sid, now).await?;
        }
        // Families whose session already ended (idle) are still live: end them too.
        let families = self.store.revoke_families_of_user(user_id, now).await?;
        self.revoke_tokens_of(&families, now).await?;
        // An address change asked for before (perhaps by whoever is being signed out) stops too.
        self.store.delete_verification_links(user_id).await?;
        Ok(sessions.len())
    }

    /// Deletes a client, ending first every grant it holds: its refresh families with their
    /// access tokens, and its own (client credentials) tokens, whose subject it is. Returns
    /// whether it existed.
    ///
    /// # Errors
    /// Store failures.
    pub async fn delete_client(
        &self,
        client_id: &str,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        let families = self.store.revoke_families_of_client(client_id, now).await?;
        self.revoke_tokens_of(&families, now).await?;
        self.revoke_subject(client_id, now).await?;
        let deleted = self.store.delete_client(client_id).await?;
        self.announcer.client_changed(client_id);
        Ok(deleted)
    }

    /// Refuses every token of a subject (a removed or disabled user) until any of them can have
    /// expired.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_subject(&self, subject: &str, now: UnixSeconds) -> Result<(), StoreError> {
        self.add(
            RevocationKind::Subject,
            subject,
            now + self.max_access_token_lifetime_secs,
            now,
        )
        .await
    }
}
