//! Joining a cluster's Redis: the announcer that tells gateways about revocations and key changes.

use crate::config::Config;
use anyhow::Context;
use portcullis_core::{ClusterAnnouncer, NoAnnouncer};
use portcullis_redis::EventPublisher;
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

/// The announcer of a server: the Redis publisher, or nobody without Redis.
///
/// # Errors
/// An invalid Redis URL.
pub fn announcer(config: &Config) -> anyhow::Result<Arc<dyn ClusterAnnouncer>> {
    Ok(match publisher(config)? {
        Some(publisher) => Arc::new(publisher),
        None => Arc::new(NoAnnouncer),
    })
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
