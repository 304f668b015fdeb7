//! The fixture the service layer's tests share: administration over a temporary SQLite store.

use portcullis_core::{NoAnnouncer, PasswordHasher, PasswordPolicy, SystemClock};
use portcullis_service::{Actor, Administration, AuditLog, Revoker};
use portcullis_store::SqlStore;
use std::sync::Arc;
use tempfile::TempDir;

/// A temporary store with an audit log, a fast password hasher and an actor.
pub struct Fixture {
    _dir: TempDir,
    pub store: Arc<SqlStore>,
    pub audit: AuditLog,
    pub hasher: PasswordHasher,
    actor: Actor,
}

impl Fixture {
    /// A fresh store; changes are audited as `cli:<actor>`.
    pub async fn new(actor: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = Arc::new(
            SqlStore::open_sqlite(&dir.path().join("portcullis.db"))
                .await
                .expect("store"),
        );
        let hasher = PasswordHasher::new(PasswordPolicy {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
            ..PasswordPolicy::default()
        })
        .expect("hasher");
        Fixture {
            audit: AuditLog::start(store.clone(), Arc::new(SystemClock)),
            _dir: dir,
            store,
            hasher,
            actor: Actor::command_line(actor),
        }
    }

    /// The service layer's administration over the fixture.
    pub fn admin(&self) -> Administration<'_> {
        Administration {
            store: self.store.as_ref(),
            revoker: Revoker {
                store: self.store.as_ref(),
                sessions: self.store.as_ref(),
                announcer: &NoAnnouncer,
                leeway_secs: 60,
                max_access_token_lifetime_secs: 3600,
            },
            audit: &self.audit,
            clock: &SystemClock,
            hasher: &self.hasher,
            max_access_token_lifetime_secs: 3600,
            actor: &self.actor,
        }
    }
}
