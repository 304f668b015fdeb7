//! Administration: managing users, roles, clients and sessions. The admin CLI (directly on the
//! database) and the admin API both call these, so a change is validated, audited with its actor
//! and followed by the same revocations whichever way it arrives.

mod actor;
mod apply;
mod audit;
mod clients;
mod error;
mod invitations;
mod keys;
mod providers;
mod roles;
mod sessions;
mod users;

pub use actor::Actor;
pub use apply::{Applied, Change, DesiredClient, DesiredState, DesiredUser, Plan};
pub use audit::AuditPage;
pub use clients::{
    BUILT_IN_CLIENT_PREFIX, ClientCreated, ClientPage, MAX_CLIENT_PAGE, SecretRotated,
};
pub use error::AdminError;
pub use invitations::InvitationCreated;
pub use providers::{ProviderListing, usable_providers};
pub use sessions::{MAX_SESSION_PAGE, SessionPage};
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

/// The first `limit` of `found` (fetched with one more, to know whether another page follows)
/// and, when one does, the cursor of the last shown.
fn one_page<T, C>(mut found: Vec<T>, limit: u32, cursor: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    let next = if more { found.last().map(cursor) } else { None };
    (found, next)
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
