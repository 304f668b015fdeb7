//! Managing browser sessions.

use super::{AdminError, Administration};
use portcullis_core::Session;

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
