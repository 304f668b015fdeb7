//! Browser sign-in sessions. The cookie carries a 256-bit secret; the store keeps only its hash, so
//! a copy of the database cannot be replayed as cookies. `sid` is a separate public identifier that
//! appears in tokens and on the revocation feed.

use crate::{AuthMethods, UnixSeconds};

/// Random bytes in a session cookie secret.
pub const SESSION_SECRET_BYTES: usize = 32;

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie secret.
    pub secret_hash: Vec<u8>,
    /// Public session id (`sid` claim).
    pub sid: String,
    /// The signed-in user.
    pub user_id: String,
    /// When the user authenticated (`auth_time`).
    pub auth_time: UnixSeconds,
    /// How the user authenticated (`amr`).
    pub amr: AuthMethods,
    /// The upstream identity provider the user signed in through, if any.
    pub identity_provider: Option<String>,
    /// Creation time.
    pub created_at: UnixSeconds,
    /// Last request seen with this session.
    pub last_seen_at: UnixSeconds,
    /// Absolute end of the session.
    pub expires_at: UnixSeconds,
}

/// Idle and absolute session timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in, however active.
    pub absolute_timeout_secs: i64,
}

impl SessionPolicy {
    /// Whether `session` is still valid at `now`.
    pub fn is_live(&self, session: &Session, now: UnixSeconds) -> bool {
        now < session.expires_at && now < session.last_seen_at + self.idle_timeout_secs
    }

    /// Whether the session's last-seen time should be written again (at most once a minute, so a
    /// busy session does not turn every request into a write).
    pub fn needs_touch(&self, session: &Session, now: UnixSeconds) -> bool {
        now - session.last_seen_at >= 60
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_and_absolute_timeouts() {
        let policy = SessionPolicy {
            idle_timeout_secs: 100,
            absolute_timeout_secs: 1000,
        };
        let session = Session {
            secret_hash: vec![],
            sid: "s".into(),
            user_id: "u".into(),
            auth_time: 0,
            amr: AuthMethods::password(),
            identity_provider: None,
            created_at: 0,
            last_seen_at: 500,
            expires_at: 1000,
        };
        assert!(policy.is_live(&session, 599));
        assert!(!policy.is_live(&session, 600), "idle");
        let active = Session {
            last_seen_at: 990,
            ..session.clone()
        };
        assert!(!policy.is_live(&active, 1000), "absolute");
        assert!(!policy.needs_touch(&session, 559));
        assert!(policy.needs_touch(&session, 560));
    }
}
