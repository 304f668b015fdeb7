//! Managing browser sessions.

use super::{AdminError, Administration, one_page};
use crate::SessionSearch;
use portcullis_core::{Session, UnixSeconds};

/// The most sessions on one page.
pub const MAX_SESSION_PAGE: u32 = 200;

/// One page of sessions (each with its user's name), newest first, and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// The sessions, each with its user's name (`None` once the user is gone).
    pub sessions: Vec<(Session, Option<String>)>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next: Option<(UnixSeconds, String)>,
}

impl Administration<'_> {
    /// Live sessions, newest first, each with its user's name (`None` once the user is gone):
    /// every session, or those of the user with id `user_id`.
    ///
    /// # Errors
    /// A store failure.
    pub async fn sessions(
        &self,
        user_id: Option<&str>,
    ) -> Result<Vec<(Session, Option<String>)>, AdminError> {
        let sessions = match user_id {
            Some(user_id) => self.revoker.sessions.list_sessions_of_user(user_id).await?,
            None => self.revoker.sessions.list_sessions().await?,
        };
        self.named(sessions).await
    }

    /// A page of live sessions, newest first: every session, or those of `username`; after the
    /// cursor `before`; at most `limit` (clamped to 1..=[`MAX_SESSION_PAGE`]).
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown username, or a store failure.
    pub async fn session_page(
        &self,
        username: Option<&str>,
        before: Option<(UnixSeconds, String)>,
        limit: u32,
    ) -> Result<SessionPage, AdminError> {
        let user_id = match username {
            Some(username) => Some(self.user(username).await?.id),
            None => None,
        };
        let limit = limit.clamp(1, MAX_SESSION_PAGE);
        let found = self
            .revoker
            .sessions
            .search_sessions(&SessionSearch {
                user_id,
                before,
                limit: limit + 1,
            })
            .await?;
        let (sessions, next) = one_page(found, limit, |session| {
            (session.created_at, session.sid.clone())
        });
        Ok(SessionPage {
            sessions: self.named(sessions).await?,
            next,
        })
    }

    async fn named(
        &self,
        sessions: Vec<Session>,
    ) -> Result<Vec<(Session, Option<String>)>, AdminError> {
        let mut named = Vec::with_capacity(sessions.len());
        for session in sessions {
            let username = self
                .store
                .find_user_by_id(&session.user_id)
                .await?
                .map(|user| user.username.to_string());
            named.push((session, username));
        }
        Ok(named)
    }

    /// Ends a session and revokes the tokens issued in it.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn revoke_session(&self, sid: &str) -> Result<(), AdminError> {
        if !self.revoker.revoke_session(sid, self.clock.now()).await? {
            return Err(AdminError::not_found("session", sid));
        }
        self.record("session.revoke", sid);
        Ok(())
    }
}
