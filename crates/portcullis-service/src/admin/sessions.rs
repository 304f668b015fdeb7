//! Managing browser sessions.

use super::{AdminError, Administration};

impl Administration<'_> {
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
