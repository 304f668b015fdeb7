//! What an admin command acts through: the service layer's [`Administration`] over the store,
//! with the cluster's revocations and the audit log, as the command-line actor.

use crate::cluster::CommandRevocations;
use crate::config::Config;
use anyhow::Context;
use portcullis_core::{PasswordHasher, SystemClock};
use portcullis_service::personal_access_tokens::{PersonalAccessTokens, TokenPolicy};
use portcullis_service::{Actor, Administration, AuditLog};
use portcullis_store::SqlStore;
use std::sync::Arc;

/// The operator at this terminal, as the audit log names them.
pub(crate) fn operator() -> Actor {
    let os_user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_owned());
    Actor::command_line(&os_user)
}

/// One admin command's dependencies; [`AdminContext::finish`] waits until its audit events and
/// announcements are out.
pub(crate) struct AdminContext {
    revocations: CommandRevocations,
    audit: AuditLog,
    hasher: PasswordHasher,
    actor: Actor,
    max_access_token_lifetime_secs: i64,
}

impl AdminContext {
    /// Over `store` and the cluster of `config`, acting as `actor`.
    pub(crate) fn new(config: &Config, store: &SqlStore, actor: Actor) -> anyhow::Result<Self> {
        Ok(AdminContext {
            revocations: CommandRevocations::new(config, store)?,
            audit: AuditLog::start(Arc::new(store.clone()), Arc::new(SystemClock)),
            hasher: PasswordHasher::new(config.password_policy()).context("password settings")?,
            actor,
            max_access_token_lifetime_secs: config.tokens.max_access_token_lifetime_secs,
        })
    }

    pub(crate) fn administration(&self) -> Administration<'_> {
        Administration {
            store: self.revocations.store(),
            revoker: self.revocations.revoker(),
            audit: &self.audit,
            clock: &SystemClock,
            hasher: &self.hasher,
            max_access_token_lifetime_secs: self.max_access_token_lifetime_secs,
            actor: &self.actor,
        }
    }

    /// Personal access tokens and API keys under `policy`, as this actor.
    pub(crate) fn personal_access_tokens<'a>(
        &'a self,
        policy: &'a TokenPolicy,
    ) -> PersonalAccessTokens<'a> {
        PersonalAccessTokens {
            store: self.revocations.store(),
            clock: &SystemClock,
            audit: &self.audit,
            revoker: self.revocations.revoker(),
            policy,
        }
    }

    /// Who acts, as the audit log names them.
    pub(crate) fn actor(&self) -> &Actor {
        &self.actor
    }

    pub(crate) async fn finish(self) {
        self.audit.flush().await;
        self.revocations.finish().await;
    }
}
