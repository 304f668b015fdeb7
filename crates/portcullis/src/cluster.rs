//! Joining a cluster's Redis: the announcer that tells gateways about revocations and key changes,
//! and optionally the authorization code store.

use crate::config::Config;
use anyhow::Context;
use portcullis_auth::AppState;
use portcullis_core::{ClusterAnnouncer, NoAnnouncer};
use portcullis_redis::{EventPublisher, RedisCodeStore, RedisLink, RedisSessionStore};
use portcullis_store::SessionStore;
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
/// revocations and key changes there, and keeps authorization codes (`redis_codes`) and browser
/// sessions (`redis_sessions`) there when asked to.
///
/// # Errors
/// An invalid Redis URL.
pub fn join(state: AppState, config: &Config) -> anyhow::Result<AppState> {
    let Some(settings) = config.redis() else {
        return Ok(state);
    };
    let announcer: Arc<dyn ClusterAnnouncer> =
        Arc::new(EventPublisher::start(&settings, &config.issuer()).context("redis_url")?);
    let mut state = state.with_announcer(announcer);
    if config.redis_codes {
        let link = RedisLink::new(&settings).context("redis_url")?;
        state = state.with_code_store(Arc::new(RedisCodeStore::new(
            Arc::new(link),
            &settings.prefix,
        )));
    }
    let sessions = session_store(config, state.sessions.clone())?;
    Ok(state.with_session_store(sessions))
}

/// Where this configuration keeps browser sessions: Redis with `redis_sessions`, else `store`.
///
/// # Errors
/// An invalid Redis URL.
pub fn session_store(
    config: &Config,
    store: Arc<dyn SessionStore>,
) -> anyhow::Result<Arc<dyn SessionStore>> {
    match config.redis().filter(|_| config.redis_sessions) {
        Some(settings) => {
            let link = RedisLink::new(&settings).context("redis_url")?;
            Ok(Arc::new(RedisSessionStore::new(
                Arc::new(link),
                &settings.prefix,
            )))
        }
        None => Ok(store),
    }
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
