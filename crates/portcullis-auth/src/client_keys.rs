//! The keys of `private_key_jwt` clients: given by value, or fetched from their `jwks_uri`
//! through [`OutboundHttp`] (SSRF-guarded) and cached. A copy is used for five minutes; an
//! assertion naming an unknown key fetches again, at most every thirty seconds per URL, so
//! assertions with random kids cannot make the server hammer a client's host. When a fetch fails,
//! the last good copy stays in use (for a day at most), and the host is asked again only after the
//! interval; one fetch per URL runs at a time.

use crate::outbound::OutboundHttp;
use async_trait::async_trait;
use portcullis_core::ClientKeys;
use portcullis_jose::KeySet;
use portcullis_service::tokens::ClientKeyResolver;
use portcullis_types::JwkSet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a fetched key set is used before it is fetched again.
const FRESH_FOR: Duration = Duration::from_secs(300);
/// The least time between two fetches of one URL.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long the last good copy stands in while the URL fails.
const STALE_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest key set document read.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The most URLs whose keys are kept; past it the cache starts over.
const MAX_CACHED_URLS: usize = 4096;

struct Fetched {
    /// The keys in use (empty while a URL never answered).
    keys: Arc<KeySet>,
    /// The last attempt.
    attempted_at: Instant,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
}

/// Client keys, with remote key sets cached.
pub struct ClientKeyCache {
    http: OutboundHttp,
    remote: Mutex<HashMap<String, Fetched>>,
    /// One fetch at a time per URL: concurrent requests wait for it instead of adding their own.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for ClientKeyCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ClientKeyCache")
    }
}

impl ClientKeyCache {
    /// A cache fetching through `http`.
    pub fn new(http: OutboundHttp) -> Self {
        ClientKeyCache {
            http,
            remote: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// The cached copy of `uri` (`None` if never fetched, or stale for too long) and whether it
    /// may be fetched again now.
    fn cached(&self, uri: &str, refetch: bool) -> (Option<Arc<KeySet>>, bool) {
        let remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = remote.get(uri) else {
            return (None, true);
        };
        let since_attempt = entry.attempted_at.elapsed();
        let due = since_attempt
            >= if refetch {
                MIN_REFETCH_INTERVAL
            } else {
                FRESH_FOR
            };
        let usable = entry
            .fetched_at
            .is_none_or(|fetched_at| fetched_at.elapsed() < STALE_FOR);
        (usable.then(|| entry.keys.clone()), due)
    }

    /// The lock serializing fetches of `uri`.
    fn fetch_lock(&self, uri: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut fetching = self.fetching.lock().unwrap_or_else(PoisonError::into_inner);
        if fetching.len() >= MAX_CACHED_URLS {
            fetching.clear();
        }
        fetching.entry(uri.to_owned()).or_default().clone()
    }

    /// Records an attempt: `fetched` keys on success, else the previous ones kept.
    fn remember(&self, uri: &str, fetched: Option<Arc<KeySet>>) {
        let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        if remote.len() >= MAX_CACHED_URLS {
            remote.clear();
        }
        let now = Instant::now();
        let previous = remote.remove(uri);
        let entry = match (fetched, previous) {
            (Some(keys), _) => Fetched {
                keys,
                attempted_at: now,
                fetched_at: Some(now),
            },
            (None, Some(previous)) => Fetched {
                attempted_at: now,
                ..previous
            },
            (None, None) => Fetched {
                keys: Arc::default(),
                attempted_at: now,
                fetched_at: None,
            },
        };
        remote.insert(uri.to_owned(), entry);
    }

    async fn fetch(&self, uri: &str) -> Result<Arc<KeySet>, String> {
        let body = self
            .http
            .get(uri, MAX_JWKS_BYTES)
            .await
            .map_err(|error| format!("jwks_uri: {error}"))?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|_| "jwks_uri: not a JWK Set".to_owned())?;
        // RFC 7517 §5: keys this server cannot use are skipped, not fatal.
        Ok(Arc::new(KeySet::from_jwks(&set)))
    }
}

#[async_trait]
impl ClientKeyResolver for ClientKeyCache {
    async fn keys(&self, keys: &ClientKeys, refetch: bool) -> Result<Arc<KeySet>, String> {
        let uri = match keys {
            ClientKeys::Inline(set) => return Ok(Arc::new(KeySet::from_jwks(set))),
            ClientKeys::Remote(uri) => uri,
        };
        if let (Some(keys), false) = self.cached(uri, refetch) {
            return Ok(keys);
        }
        let lock = self.fetch_lock(uri);
        let _one_fetch = lock.lock().await;
        // Another request may have fetched while this one waited.
        let (cached, due) = self.cached(uri, refetch);
        if let (Some(keys), false) = (&cached, due) {
            return Ok(keys.clone());
        }
        match self.fetch(uri).await {
            Ok(fetched) => {
                self.remember(uri, Some(fetched.clone()));
                Ok(fetched)
            }
            Err(error) => {
                // The attempt counts either way: a failing host is asked again only after the
                // interval, with the last good copy (for a day at most) used meanwhile.
                self.remember(uri, None);
                match cached {
                    Some(stale) => {
                        tracing::warn!(%error, "client keys could not be refetched; using the last copy");
                        Ok(stale)
                    }
                    None => Err(error),
                }
            }
        }
    }
}
