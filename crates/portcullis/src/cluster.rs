//! Joining a cluster's Redis: the announcer that tells gateways about revocations and key changes
//! and other auth servers about client changes, the follower of those client changes, the sign-in
//! throttle's counters, and optionally the authorization code and session stores.

use crate::config::Config;
use anyhow::Context;
use portcullis_auth::AppState;
use portcullis_core::{ClusterAnnouncer, NoAnnouncer};
use portcullis_redis::{
    ClientChangeFollower, EventPublisher, RedisCodeStore, RedisLink, RedisReplay,
    RedisSessionStore, RedisThrottle, follow_client_changes,
};
use portcullis_service::SessionStore;
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
/// revocations, key changes and client changes there, follows the client changes of other
/// servers (while the returned follower lives), and keeps authorization codes (`redis_codes`) and
/// browser sessions (`redis_sessions`) there when asked to.
///
/// # Errors
/// An invalid Redis URL.
pub fn join(
    state: AppState,
    config: &Config,
) -> anyhow::Result<(AppState, Option<ClientChangeFollower>)> {
    let Some(settings) = config.redis() else {
        return Ok((state, None));
    };
    let follower = follow_client_changes(&settings, state.client_cache.clone(), &config.issuer());
    let announcer: Arc<dyn ClusterAnnouncer> =
        Arc::new(EventPublisher::start(&settings, &config.issuer()).context("redis_url")?);
    // Sign-in failures are counted once for the whole cluster, not per server.
    let link = Arc::new(RedisLink::new(&settings).context("redis_url")?);
    let throttle = RedisThrottle::new(
        link.clone(),
        &settings.prefix,
        state.settings.sign_in.throttle,
    );
    // A DPoP proof or client assertion used at one server is refused at every other.
    let proofs = RedisReplay::new(link.clone(), &settings.prefix);
    let assertions = RedisReplay::new(link, &format!("{}:assertions", settings.prefix));
    let mut state = state
        .with_announcer(announcer)
        .with_sign_in_throttle(Arc::new(throttle))
        .with_proof_replay(Arc::new(proofs), Arc::new(assertions));
    if config.redis_codes {
        let link = RedisLink::new(&settings).context("redis_url")?;
        state = state.with_code_store(Arc::new(RedisCodeStore::new(
            Arc::new(link),
            &settings.prefix,
        )));
    }
    let sessions = session_store(config, state.sessions.clone())?;
    Ok((state.with_session_store(sessions), Some(follower)))
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

/// What a one-shot command revokes with: the store, the cluster's session store and announcer,
/// and the configured leeway and lifetimes, so it revokes exactly as the server does.
pub struct CommandRevocations {
    announcer: CommandAnnouncer,
    sessions: Arc<dyn SessionStore>,
    store: Arc<portcullis_store::SqlStore>,
    leeway_secs: i64,
    max_access_token_lifetime_secs: i64,
}

impl CommandRevocations {
    /// Over `store` and the cluster of `config`.
    ///
    /// # Errors
    /// An invalid Redis URL.
    pub fn new(config: &Config, store: &portcullis_store::SqlStore) -> anyhow::Result<Self> {
        let store = Arc::new(store.clone());
        Ok(CommandRevocations {
            announcer: CommandAnnouncer::new(config)?,
            sessions: session_store(config, store.clone())?,
            store,
            leeway_secs: config.tokens.leeway_secs,
            max_access_token_lifetime_secs: config.tokens.max_access_token_lifetime_secs,
        })
    }

    /// The store it revokes in.
    pub fn store(&self) -> &dyn portcullis_service::Store {
        self.store.as_ref()
    }

    /// The revoker.
    pub fn revoker(&self) -> portcullis_service::Revoker<'_> {
        portcullis_service::Revoker {
            store: self.store.as_ref(),
            sessions: self.sessions.as_ref(),
            announcer: self.announcer.announcer(),
            leeway_secs: self.leeway_secs,
            max_access_token_lifetime_secs: self.max_access_token_lifetime_secs,
        }
    }

    /// Waits until every announcement is out.
    pub async fn finish(self) {
        self.announcer.finish().await;
    }
}
