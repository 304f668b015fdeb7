//! Where the gateway's browser sessions and sign-ins on their way live (in its memory, or in a
//! cluster's Redis): the records and the store's contract. Keys are SHA-256 digests of the
//! secrets the browser holds, and the tokens are sealed with a key only the browser's cookie
//! gives, so the store never holds a value that would let its reader act as a browser.

use super::StoreError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A signed-in browser: who, and the tokens the gateway holds for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The user (`sub` of the id token).
    pub subject: String,
    /// The provider's session (`sid`), which back-channel logout names.
    pub provider_session: Option<String>,
    /// When the access token expires (Unix seconds).
    pub access_expires_at: i64,
    /// The access, refresh and id tokens, sealed with a key derived from the browser's cookie.
    pub sealed_tokens: String,
    /// When the user signed in.
    pub created_at: i64,
    /// When the session was last used.
    pub last_seen: i64,
}

/// A sign-in sent to the provider, waiting for its callback.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE code verifier.
    pub code_verifier: String,
    /// The digest of the browser's binding cookie: the callback must come from the browser
    /// that started the sign-in (RFC 6749 §10.12).
    pub browser: String,
    /// Where to send the browser once signed in: a path on the gateway.
    pub return_to: String,
    /// When the sign-in started.
    pub created_at: i64,
}

/// How long sessions and sign-ins live, and how many are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// A session unused this long is over.
    pub idle_timeout_secs: i64,
    /// A session this old is over.
    pub absolute_timeout_secs: i64,
    /// A sign-in waits this long for its callback.
    pub pending_timeout_secs: i64,
    /// Sessions held at most.
    pub max_sessions: usize,
    /// Sessions of one user at most.
    pub sessions_per_user: usize,
    /// Pending sign-ins held at most.
    pub max_pending: usize,
}

impl StoreLimits {
    /// Whether `session` may still be used at `now`.
    pub fn is_live(&self, session: &SessionRecord, now: i64) -> bool {
        now < session.last_seen.saturating_add(self.idle_timeout_secs)
            && now
                < session
                    .created_at
                    .saturating_add(self.absolute_timeout_secs)
    }

    /// Whether `pending` may still be completed at `now`.
    pub fn is_waiting(&self, pending: &PendingLogin, now: i64) -> bool {
        now < pending.created_at.saturating_add(self.pending_timeout_secs)
    }
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// Why a session could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// `max_sessions` are held.
    #[error("too many sessions")]
    Full,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The gateway's sessions and pending sign-ins, by key.
#[async_trait]
pub trait GatewaySessionStore: Send + Sync {
    /// Keeps `pending` under `key` (forgetting the oldest beyond the configured number).
    async fn begin(&self, key: String, pending: PendingLogin) -> Result<(), StoreError>;

    /// The pending sign-in of `key` if still waiting at `now`, removed: a callback is used
    /// once.
    async fn take_pending(&self, key: &str, now: i64) -> Result<Option<PendingLogin>, StoreError>;

    /// Keeps a new session under `key`, ending the user's oldest beyond the configured number
    /// per user.
    async fn create(&self, key: String, session: SessionRecord) -> Result<(), CreateError>;

    /// The session of `key` if still live at `now` ([`StoreLimits::is_live`]; else it is
    /// removed), its `last_seen` set to `now`.
    async fn touch(&self, key: &str, now: i64) -> Result<Option<SessionRecord>, StoreError>;

    /// Replaces the tokens of the session of `key`, if it still exists (a refresh).
    async fn update(&self, key: &str, session: SessionRecord) -> Result<(), StoreError>;

    /// Ends the session of `key`; what it was.
    async fn remove(&self, key: &str) -> Result<Option<SessionRecord>, StoreError>;

    /// Ends every session of `subject` and of the provider's session `provider_session`
    /// (those given; at least one is); how many.
    async fn end_matching(
        &self,
        subject: Option<&str>,
        provider_session: Option<&str>,
    ) -> Result<usize, StoreError>;

    /// Takes the right to refresh the session of `key` (one gateway of a cluster at a time: with
    /// rotation, a second refresh would present a used refresh token), held until given back or
    /// for longer than a refresh takes: the proof of holding it, or `None` while another holds
    /// it.
    async fn lock_refresh(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Gives the right taken with `proof` back (if it is still that one).
    async fn unlock_refresh(&self, key: &str, proof: &str);

    /// Forgets sessions and sign-ins that can no longer be used at `now`.
    async fn purge(&self, now: i64);
}
