//! Following the client changes other auth servers announce, so this server stops using its kept
//! copy of a changed client at once rather than when the copy's time runs out.

use crate::RedisSettings;
use crate::events::{ClusterEvent, EventHandler, follow_events};
use portcullis_service::client_cache::ClientCache;
use std::sync::Arc;
use tokio::sync::watch;

/// Follows the announced client changes while it lives.
#[must_use = "the follower stops when this is dropped"]
#[derive(Debug)]
pub struct ClientChangeFollower {
    stop: watch::Sender<bool>,
    subscribed: watch::Receiver<bool>,
}

impl ClientChangeFollower {
    /// Waits until the follower is subscribed (changes announced from then on are followed),
    /// at most `timeout`; whether it is.
    pub async fn subscribed(&self, timeout: std::time::Duration) -> bool {
        let mut subscribed = self.subscribed.clone();
        tokio::time::timeout(timeout, subscribed.wait_for(|subscribed| *subscribed))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }
}

impl Drop for ClientChangeFollower {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Starts following the client changes announced for `issuer` on the cluster's Redis, forgetting
/// each changed client's copy in `cache`.
pub fn follow_client_changes(
    settings: &RedisSettings,
    cache: Arc<ClientCache>,
    issuer: &str,
) -> ClientChangeFollower {
    let (stop, stopped) = watch::channel(false);
    let (subscribed_now, subscribed) = watch::channel(false);
    tokio::spawn(follow_events(
        settings.clone(),
        Arc::new(ForgetAnnouncedClients {
            cache,
            issuer: issuer.to_owned(),
            subscribed: subscribed_now,
        }),
        stopped,
    ));
    ClientChangeFollower { stop, subscribed }
}

/// Forgets the copy of each client announced as changed, and every copy whenever the
/// subscription (re)starts, since announcements may have been missed meanwhile.
struct ForgetAnnouncedClients {
    cache: Arc<ClientCache>,
    issuer: String,
    subscribed: watch::Sender<bool>,
}

impl EventHandler for ForgetAnnouncedClients {
    fn connected(&self) {
        self.cache.forget_all();
        self.subscribed.send_replace(true);
    }

    fn disconnected(&self) {
        self.subscribed.send_replace(false);
    }

    fn event(&self, event: ClusterEvent) {
        if let ClusterEvent::ClientChanged { issuer, client_id } = event
            && issuer == self.issuer
        {
            self.cache.forget(&client_id);
        }
    }
}
