//! Shared fast state for a Portcullis cluster, on Redis.
//!
//! - [`events`]: revocations and signing-key changes, published by any auth server on one pub/sub
//!   channel and followed by every gateway, so a revocation reaches the edge in milliseconds. The
//!   revocation feed stays the catch-up path after a disconnect.
//! - [`codes`]: authorization codes (opt-in), redeemed atomically by a Lua script.
//! - [`sessions`]: browser sessions (opt-in), expiring with the session.
//! - [`gcra`]: a cluster-wide rate limit, one atomic Lua script per decision, timed by the Redis
//!   server's clock so gateways need not agree on theirs.
//!
//! Redis is an accelerator, never a dependency for correctness: every caller has a local fallback,
//! and [`link::RedisLink`] fails fast while Redis is down and reconnects by itself.

pub mod codes;
pub mod events;
mod fields;
pub mod gcra;
pub mod link;
pub mod sessions;

pub use codes::RedisCodeStore;
pub use events::{ClusterEvent, EventHandler, EventPublisher, follow_events};
pub use gcra::{GcraDecision, RedisGcra};
pub use link::RedisLink;
pub use sessions::RedisSessionStore;

use thiserror::Error;

/// Where the cluster's Redis is and which names this cluster owns in it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://host:port[/db]`.
    pub url: String,
    /// Prefix of every key and channel, so several clusters (or tests) can share one Redis.
    pub prefix: String,
}

/// The URL may carry a password (`redis://user:password@host`): `Debug` never prints it.
impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisSettings")
            .field("url", &"<redacted>")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisSettings {
    /// The channel announcements are published on.
    pub fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
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
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
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
