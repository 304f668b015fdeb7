//! Revoked tokens, sessions and subjects, learned from each issuer's revocation feed and kept only
//! until the tokens they match would have expired anyway.

use crate::config::RevocationFeedConfig;
use crate::identity::Identity;
use crate::metrics::Metrics;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    TokenId,
    Session,
    Subject,
}

/// The revocation entries of every issuer.
#[derive(Debug, Default)]
pub struct RevocationSet {
    entries: RwLock<HashMap<(String, Kind, String), i64>>,
    leeway_secs: i64,
}

impl RevocationSet {
    /// An empty set for a gateway that accepts tokens `leeway_secs` past their `exp`: an entry is
    /// kept that much longer than the tokens it names, or they would work again meanwhile.
    pub fn new(leeway_secs: i64) -> Self {
        RevocationSet {
            entries: RwLock::default(),
            leeway_secs: leeway_secs.max(0),
        }
    }

    /// Adds an entry named as on the feed (`jti`, `sid`, `sub`); `false` for an unknown kind.
    pub fn apply(&self, issuer: &str, kind: &str, value: String, expires_at: i64) -> bool {
        let kind = match kind {
            "jti" => Kind::TokenId,
            "sid" => Kind::Session,
            "sub" => Kind::Subject,
            _ => return false,
        };
        self.insert(issuer, kind, value, expires_at);
        true
    }

    fn insert(&self, issuer: &str, kind: Kind, value: String, expires_at: i64) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((issuer.to_owned(), kind, value), expires_at);
    }

    /// Whether the identity's token, session or subject is revoked.
    pub fn is_revoked(&self, identity: &Identity) -> bool {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.is_empty() {
            return false;
        }
        let named = |kind: Kind, value: &str| {
            entries.contains_key(&(identity.issuer.clone(), kind, value.to_owned()))
        };
        identity
            .token_id
            .as_deref()
            .is_some_and(|jti| named(Kind::TokenId, jti))
            || identity
                .session_id
                .as_deref()
                .is_some_and(|sid| named(Kind::Session, sid))
            || named(Kind::Subject, &identity.subject)
    }

    /// Forgets entries whose tokens have expired, leeway included.
    pub fn purge(&self, now: i64) {
        let leeway = self.leeway_secs;
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, expires_at| expires_at.saturating_add(leeway) > now);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |entries| entries.len())
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Deserialize)]
struct FeedPage {
    entries: Vec<FeedEntry>,
    next: i64,
}

#[derive(Deserialize)]
struct FeedEntry {
    kind: String,
    value: String,
    expires_at: i64,
}

/// Follows `issuer`'s feed until `stopped` changes: polls `GET <issuer>/revocations?after=` and
/// adds what it finds, every poll interval and at once when `nudge` is notified (pushed
/// announcements reconnected: catch up on what they missed). After an outage it resumes from its
/// cursor, so nothing is missed.
pub async fn follow_feed(
    issuer: String,
    feed: RevocationFeedConfig,
    set: Arc<RevocationSet>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    nudge: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let url = format!("{}/revocations", issuer.trim_end_matches('/'));
    let (id, secret) =
        portcullis_sdk::client::basic_credentials(&feed.client_id, &feed.client_secret);
    let mut cursor = 0i64;
    let mut last_success = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(feed.poll_interval_ms.max(50)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = nudge.notified() => {}
            _ = stopped.changed() => return,
        }
        let response = http
            .get(format!("{url}?after={cursor}"))
            .basic_auth(id.clone(), Some(secret.clone()))
            .send()
            .await;
        let page = match response {
            Ok(response) if response.status().is_success() => response
                .json::<FeedPage>()
                .await
                .map_err(|error| error.to_string()),
            Ok(response) => Err(format!("status {}", response.status())),
            Err(error) => Err(error.to_string()),
        };
        match page {
            Ok(page) => {
                for entry in page.entries {
                    set.apply(&issuer, &entry.kind, entry.value, entry.expires_at);
                }
                cursor = cursor.max(page.next);
                last_success = Instant::now();
                set.purge(unix_now());
            }
            Err(error) => {
                tracing::warn!(%issuer, %error, "revocation feed poll failed; keeping known revocations")
            }
        }
        metrics.revocation_feed_lag(&issuer, last_success.elapsed().as_secs_f64());
    }
}

/// The wall clock in Unix seconds.
#[allow(clippy::disallowed_methods)] // the gateway's one reading of the wall clock
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_outlive_their_tokens_by_the_leeway() {
        let set = RevocationSet::new(30);
        assert!(set.apply("iss", "jti", "j1".into(), 100));
        assert!(!set.apply("iss", "nonsense", "x".into(), 100));
        let claims = serde_json::json!({"iss": "iss", "sub": "u", "jti": "j1", "exp": 100});
        let identity =
            Identity::from_claims(claims.as_object().expect("object")).expect("identity");
        // Accepted until exp + leeway (130), so refused until then.
        set.purge(129);
        assert!(set.is_revoked(&identity), "still within the leeway");
        set.purge(130);
        assert!(!set.is_revoked(&identity) && set.is_empty());
    }
}
