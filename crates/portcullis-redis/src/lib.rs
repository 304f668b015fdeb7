//! Shared fast state for a Portcullis cluster, on Redis.
//!
//! - [`events`]: revocations and signing-key changes, published by any auth server on one pub/sub
//!   channel and followed by every gateway, so a revocation reaches the edge in milliseconds. The
//!   revocation feed stays the catch-up path after a disconnect.
//! - [`client_changes`]: auth servers forget their kept copy of a client another server changed.
//! - [`codes`]: authorization codes (opt-in), redeemed atomically by a Lua script.
//! - [`sessions`]: browser sessions (opt-in), expiring with the session.
//! - [`gateway_sessions`]: the gateways' browser sessions (session-mode routes), so any gateway
//!   serves any browser.
//! - [`throttle`]: sign-in throttling counted once for the whole cluster, one atomic script per
//!   counter.
//! - [`gcra`]: a cluster-wide rate limit, one atomic Lua script per decision, timed by the Redis
//!   server's clock so gateways need not agree on theirs.
//!
//! A Redis Cluster works as well as one server ([`RedisSettings::cluster`]): every script names
//! its keys, and the keys one script touches together share a hash tag, so they live in one slot.
//!
//! Redis is an accelerator, never a dependency for correctness: every caller has a local fallback,
//! and [`link::RedisLink`] fails fast while Redis is down and reconnects by itself.

pub mod client_changes;
pub mod codes;
pub mod events;
mod fields;
pub mod gateway_sessions;
pub mod gcra;
pub mod link;
pub mod replay;
pub mod sessions;
pub mod throttle;

pub use client_changes::{ClientChangeFollower, follow_client_changes};
pub use codes::RedisCodeStore;
pub use events::{ClusterEvent, EventHandler, EventPublisher, follow_events};
pub use gateway_sessions::RedisGatewaySessions;
pub use gcra::{GcraDecision, RedisGcra};
pub use link::{RedisConnection, RedisLink};
pub use replay::RedisReplay;
pub use sessions::RedisSessionStore;
pub use throttle::RedisThrottle;

use thiserror::Error;

/// Where the cluster's Redis is and which names this cluster owns in it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://host:port[/db]`; with [`RedisSettings::cluster`], a comma-separated list of
    /// seed nodes of the Redis Cluster (one reachable seed is enough to discover the rest).
    pub url: String,
    /// Prefix of every key and channel, so several clusters (or tests) can share one Redis.
    pub prefix: String,
    /// `url` names a Redis Cluster rather than one server.
    pub cluster: bool,
}

/// The URL may carry a password (`redis://user:password@host`): `Debug` never prints it.
impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl RedisSettings {
    /// The channel announcements are published on.
    pub fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
    }

    /// Checks that `url` names at least one node and that each is a Redis URL (nothing is
    /// opened).
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`], without the URL itself (it may hold a password).
    pub fn check(&self) -> Result<(), RedisError> {
        let nodes = self.nodes();
        if nodes.is_empty() {
            return Err(RedisError::InvalidUrl("no node".into()));
        }
        for node in nodes {
            redis::Client::open(node)
                .map_err(|_| RedisError::InvalidUrl("a node is not a Redis URL".into()))?;
        }
        Ok(())
    }

    /// The URL of each node named by `url`: one for a single server, the seeds of a cluster.
    pub fn nodes(&self) -> Vec<&str> {
        if self.cluster {
            self.url
                .split(',')
                .map(str::trim)
                .filter(|node| !node.is_empty())
                .collect()
        } else {
            vec![self.url.as_str()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RedisSettings;

    #[test]
    fn debug_output_hides_the_url() {
        let settings = RedisSettings {
            url: "redis://user:hunter2@127.0.0.1:6379".into(),
            prefix: "p".into(),
            cluster: false,
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn a_cluster_url_lists_its_seed_nodes() {
        let mut settings = RedisSettings {
            url: "redis://127.0.0.1:7101, redis://127.0.0.1:7102,".into(),
            prefix: "p".into(),
            cluster: true,
        };
        assert_eq!(
            settings.nodes(),
            ["redis://127.0.0.1:7101", "redis://127.0.0.1:7102"]
        );
        settings.cluster = false;
        assert_eq!(settings.nodes().len(), 1);
    }
}

/// A Redis operation failed.
#[derive(Debug, Error)]
pub enum RedisError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// Redis is unreachable or failed recently; callers use their local fallback.
    #[error("Redis unavailable: {0}")]
    Unavailable(String),
    /// Redis answered something this version does not understand.
    #[error("unexpected Redis reply: {0}")]
    Protocol(String),
}
