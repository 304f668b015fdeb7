//! Joining a cluster's Redis: the announcer that tells gateways about revocations and key changes,
//! and optionally the authorization code store.

use crate::config::Config;
use anyhow::Context;
use portcullis_auth::AppState;
use portcullis_core::{ClusterAnnouncer, NoAnnouncer};
use portcullis_redis::{EventPublisher, RedisCodeStore, RedisLink};
use std::sync::Arc;

/// The publisher of this configuration's announcements, if Redis is configured.
///
/// # Errors
/// An invalid Redis URL.
pub fn publisher(config: &Config) -> anyhow::Result<Option<EventPublisher>> {
    config
        .redis()
        .map(|settings| EventPublisher::start(&settings, &config.issuer()))
        .transpose()
        .context("redis_url")
}

/// The auth server `state` joined to the cluster's Redis, if one is configured: it announces
/// revocations and key changes there, and keeps authorization codes there when `redis_codes` is on.
///
/// # Errors
/// An invalid Redis URL.
pub fn join(state: AppState, config: &Config) -> anyhow::Result<AppState> {
    let Some(settings) = config.redis() else {
        return Ok(state);
    };
    let announcer: Arc<dyn ClusterAnnouncer> =
        Arc::new(EventPublisher::start(&settings, &config.issuer()).context("redis_url")?);
    let state = state.with_announcer(announcer);
    if !config.redis_codes {
        return Ok(state);
    }
    let link = RedisLink::new(&settings.url).context("redis_url")?;
    Ok(state.with_code_store(Arc::new(RedisCodeStore::new(
        Arc::new(link),
        &settings.prefix,
    ))))
}

/// The announcer of a one-shot command, which must publish before the process exits.
pub struct CommandAnnouncer(Option<EventPublisher>);

impl CommandAnnouncer {
    /// Connects lazily to the configured Redis, if any.
    ///
    /// # Errors
    /// An invalid Redis URL.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(CommandAnnouncer(publisher(config)?))
    }

    /// The announcer to pass to the revocation functions.
    pub fn announcer(&self) -> &dyn ClusterAnnouncer {
        match &self.0 {
            Some(publisher) => publisher,
            None => &NoAnnouncer,
        }
    }

    /// Waits until every announcement is published (or failed: the feed delivers it anyway).
    pub async fn finish(self) {
        if let Some(publisher) = self.0 {
            publisher.flush().await;
        }
    }
}
