//! Announcements on one pub/sub channel: auth servers publish; gateways follow revocations and
//! key changes, auth servers follow client changes.

use crate::{RedisError, RedisLink, RedisSettings};
use futures_util::StreamExt;
use portcullis_core::{ClusterAnnouncer, RevocationEntry};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// An announcement, as JSON on the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClusterEvent {
    /// A token (`jti`), session (`sid`) or subject (`sub`) of `issuer` is revoked until `expires_at`.
    Revoked {
        /// The issuer whose tokens are affected.
        issuer: String,
        /// `jti`, `sid` or `sub`.
        kind: String,
        /// The revoked value.
        value: String,
        /// When the entry can be forgotten (every matching token has expired).
        expires_at: i64,
    },
    /// The published signing keys of `issuer` changed; refetch its JWKS.
    KeysChanged {
        /// The issuer.
        issuer: String,
    },
    /// A client of `issuer` changed or was deleted; auth servers forget their copy.
    ClientChanged {
        /// The issuer.
        issuer: String,
        /// The client.
        client_id: String,
    },
}

/// Announcements waiting to be published; beyond this they are dropped (the feed catches up).
const QUEUE: usize = 1024;

/// Publishes announcements from a background task, so a request never waits for Redis.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    issuer: String,
    queue: mpsc::Sender<Queued>,
}

#[derive(Debug)]
enum Queued {
    Event(ClusterEvent),
    /// Answered once everything queued before it was published (or failed).
    Flush(oneshot::Sender<()>),
}

impl EventPublisher {
    /// Starts the publishing task for `issuer`'s announcements.
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`].
    pub fn start(settings: &RedisSettings, issuer: &str) -> Result<Self, RedisError> {
        let link = Arc::new(RedisLink::new(settings)?);
        let channel = settings.events_channel();
        let (queue, mut pending) = mpsc::channel::<Queued>(QUEUE);
        tokio::spawn(async move {
            while let Some(queued) = pending.recv().await {
                match queued {
                    Queued::Event(event) => {
                        if let Err(error) = publish(&link, &channel, &event).await {
                            tracing::warn!(%error, "announcement not published; gateways catch up from the revocation feed");
                        }
                    }
                    Queued::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Ok(EventPublisher {
            issuer: issuer.to_owned(),
            queue,
        })
    }

    /// Waits until everything announced so far has been published (or has failed); a command
    /// that exits right after revoking calls this first.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Queued::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    fn enqueue(&self, event: ClusterEvent) {
        if self.queue.try_send(Queued::Event(event)).is_err() {
            tracing::warn!("announcement queue full; gateways catch up from the revocation feed");
        }
    }
}

impl ClusterAnnouncer for EventPublisher {
    fn revoked(&self, entry: &RevocationEntry) {
        self.enqueue(ClusterEvent::Revoked {
            issuer: self.issuer.clone(),
            kind: entry.kind.as_str().to_owned(),
            value: entry.value.clone(),
            expires_at: entry.expires_at,
        });
    }

    fn keys_changed(&self) {
        self.enqueue(ClusterEvent::KeysChanged {
            issuer: self.issuer.clone(),
        });
    }

    fn client_changed(&self, client_id: &str) {
        self.enqueue(ClusterEvent::ClientChanged {
            issuer: self.issuer.clone(),
            client_id: client_id.to_owned(),
        });
    }
}

/// Publishes one event now.
///
/// # Errors
/// [`RedisError::Unavailable`].
pub async fn publish(
    link: &RedisLink,
    channel: &str,
    event: &ClusterEvent,
) -> Result<(), RedisError> {
    let payload =
        serde_json::to_string(event).map_err(|error| RedisError::Protocol(error.to_string()))?;
    let mut connection = link.connection().await?;
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async::<i64>(&mut connection)
        .await
        .map(drop)
        .map_err(|error| {
            link.failed();
            RedisError::Unavailable(error.to_string())
        })
}

/// What a follower is told.
pub trait EventHandler: Send + Sync + 'static {
    /// Subscribed (first time or after a reconnect): anything published while disconnected was
    /// missed, so catch up from the durable sources now.
    fn connected(&self);
    /// The subscription broke; pushes stop until [`EventHandler::connected`].
    fn disconnected(&self);
    /// An announcement arrived.
    fn event(&self, event: ClusterEvent);
}

/// Follows the channel until `stopped` changes, reconnecting with back-off (up to 5 s) whenever
/// the subscription breaks.
pub async fn follow_events(
    settings: RedisSettings,
    handler: Arc<dyn EventHandler>,
    mut stopped: watch::Receiver<bool>,
) {
    let channel = settings.events_channel();
    // In a Redis Cluster a message published on any node reaches subscribers on every node, so
    // the follower subscribes on one seed, and moves to the next when that one fails.
    let clients = match settings
        .nodes()
        .into_iter()
        .map(redis::Client::open)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(clients) if !clients.is_empty() => clients,
        Ok(_) => {
            tracing::error!("no Redis node configured; pushed revocations are off");
            return;
        }
        Err(error) => {
            tracing::error!(%error, "invalid Redis URL; pushed revocations are off");
            return;
        }
    };
    let mut backoff = Duration::from_millis(100);
    for client in clients.iter().cycle() {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(Duration::from_secs(2), subscribed) => outcome,
            _ = stopped.changed() => return,
        };
        match outcome {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(100);
                tracing::info!(%channel, "following cluster announcements");
                handler.connected();
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        _ = stopped.changed() => return,
                    };
                    let Some(message) = message else { break };
                    let parsed = message
                        .get_payload::<String>()
                        .ok()
                        .and_then(|payload| serde_json::from_str::<ClusterEvent>(&payload).ok());
                    match parsed {
                        Some(event) => handler.event(event),
                        None => tracing::warn!(%channel, "ignored an unreadable announcement"),
                    }
                }
                tracing::warn!(%channel, "cluster announcements disconnected; reconnecting");
                handler.disconnected();
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "cannot subscribe to cluster announcements");
            }
            Err(_) => tracing::debug!("subscribing to cluster announcements timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::ClusterEvent;

    #[test]
    fn events_have_a_stable_wire_form() {
        let event = ClusterEvent::Revoked {
            issuer: "http://127.0.0.1:3000".into(),
            kind: "jti".into(),
            value: "abc".into(),
            expires_at: 10,
        };
        let json = serde_json::to_string(&event).expect("json");
        assert_eq!(
            json,
            r#"{"type":"revoked","issuer":"http://127.0.0.1:3000","kind":"jti","value":"abc","expires_at":10}"#
        );
        assert_eq!(
            serde_json::from_str::<ClusterEvent>(&json).expect("parse"),
            event
        );
        assert!(serde_json::from_str::<ClusterEvent>(r#"{"type":"other"}"#).is_err());
    }
}
