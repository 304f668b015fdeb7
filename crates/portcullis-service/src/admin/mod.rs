//! Administration: managing users, clients and sessions. The admin CLI (directly on the
//! database) and the admin API both call these, so a change is validated, audited with its actor
//! and followed by the same revocations whichever way it arrives.

mod actor;
mod apply;
mod clients;
mod error;
mod keys;
mod sessions;
mod users;

pub use actor::Actor;
pub use apply::{Applied, Change, DesiredClient, DesiredState, DesiredUser, Plan};
pub use clients::{BUILT_IN_CLIENT_PREFIX, ClientCreated, SecretRotated};
pub use error::AdminError;
pub use users::{InitialPassword, MAX_USER_PAGE, UserChanges, UserDraft, UserPage};

use crate::{AuditLog, Revoker, Store};
use portcullis_core::{AuditEvent, Clock, PasswordHasher};

/// Everything administration needs, borrowed for one command or request.
pub struct Administration<'a> {
    /// Users, clients and consents.
    pub store: &'a dyn Store,
    /// Revokes what a change invalidates (a disabled user's tokens, a removed session's).
    pub revoker: Revoker<'a>,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// Hashes new passwords.
    pub hasher: &'a PasswordHasher,
    /// The server's ceiling for access token lifetimes (a client's own must be below it).
    pub max_access_token_lifetime_secs: i64,
    /// Who is acting, for the audit log.
    pub actor: &'a Actor,
}

impl Administration<'_> {
    fn record(&self, action: &str, target: &str) {
        self.audit.record(&AuditEvent::AdminAction {
            actor: self.actor.to_string(),
            action: action.to_owned(),
            target: target.to_owned(),
        });
    }
}
