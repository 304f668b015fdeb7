//! Following a cluster's announcements on Redis: a revocation is applied the moment any auth
//! server stores it, and a key change makes the gateway refetch that issuer's JWKS at once. After
//! every (re)connection the revocation feeds are polled and the keys refetched, so whatever was
//! announced while disconnected is caught up.

use crate::metrics::Metrics;
use crate::revocations::RevocationSet;
use portcullis_jose::remote_key_set::RemoteKeySet;
use portcullis_redis::{ClusterEvent, EventHandler};
use std::sync::Arc;
use tokio::sync::Notify;

/// Applies announcements to the gateway's state.
pub struct GatewayEvents {
    /// The configured issuers' keys.
    pub issuers: Vec<Arc<RemoteKeySet>>,
    /// The revocations the gateway enforces.
    pub revocations: Arc<RevocationSet>,
    /// Wakes the revocation feed followers.
    pub feed_nudge: Arc<Notify>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl GatewayEvents {
    fn keys_of(&self, issuer: &str) -> Option<Arc<RemoteKeySet>> {
        self.issuers
            .iter()
            .find(|keys| keys.issuer == issuer)
            .cloned()
    }

    fn refetch(keys: Arc<RemoteKeySet>) {
        tokio::spawn(async move {
            if let Err(error) = keys.refresh().await {
                tracing::warn!(issuer = %keys.issuer, %error, "JWKS refetch after an announcement failed");
            }
        });
    }
}

impl EventHandler for GatewayEvents {
    fn connected(&self) {
        self.metrics.redis_connected(true);
        self.feed_nudge.notify_waiters();
        for keys in &self.issuers {
            Self::refetch(keys.clone());
        }
    }

    fn disconnected(&self) {
        self.metrics.redis_connected(false);
    }

    fn event(&self, event: ClusterEvent) {
        match event {
            ClusterEvent::Revoked {
                issuer,
                kind,
                value,
                expires_at,
            } => {
                // Only issuers this gateway trusts; anything else could not match a token anyway.
                if self.keys_of(&issuer).is_some()
                    && self.revocations.apply(&issuer, &kind, value, expires_at)
                {
                    self.metrics.cluster_event("revoked");
                }
            }
            ClusterEvent::KeysChanged { issuer } => {
                if let Some(keys) = self.keys_of(&issuer) {
                    self.metrics.cluster_event("keys_changed");
                    Self::refetch(keys);
                }
            }
            // For auth servers: a gateway keeps no clients.
            ClusterEvent::ClientChanged { .. } => {}
        }
    }
}
