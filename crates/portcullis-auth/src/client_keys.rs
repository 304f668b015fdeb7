//! The keys of `private_key_jwt` clients: given by value, or fetched from their `jwks_uri`
//! through [`OutboundHttp`] (SSRF-guarded) and cached. A copy is used for five minutes; an
//! assertion naming an unknown key fetches again, at most every thirty seconds per URL, so
//! assertions with random kids cannot make the server hammer a client's host. When a fetch fails,
//! the last good copy stays in use, and the host is asked again only after the interval.

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
/// The largest key set document read.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The most URLs whose keys are kept; past it the cache starts over.
const MAX_CACHED_URLS: usize = 4096;

struct Fetched {
    keys: Arc<KeySet>,
    at: Instant,
}

/// Client keys, with remote key sets cached.
pub struct ClientKeyCache {
    http: OutboundHttp,
    remote: Mutex<HashMap<String, Fetched>>,
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
        }
    }

    /// The cached copy of `uri` and whether it may be fetched again now.
    fn cached(&self, uri: &str, refetch: bool) -> (Option<Arc<KeySet>>, bool) {
        let remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        match remote.get(uri) {
            None => (None, true),
            Some(fetched) => {
                let age = fetched.at.elapsed();
                let due = if refetch {
                    age >= MIN_REFETCH_INTERVAL
                } else {
                    age >= FRESH_FOR
                };
                (Some(fetched.keys.clone()), due)
            }
        }
    }

    fn remember(&self, uri: &str, keys: Arc<KeySet>) {
        let mut remote = self.remote.lock().unwrap_or_else(PoisonError::into_inner);
        if remote.len() >= MAX_CACHED_URLS {
            remote.clear();
        }
        remote.insert(
            uri.to_owned(),
            Fetched {
                keys,
                at: Instant::now(),
            },
        );
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
            ClientKeys::Inline(set) => return Ok(Arc::new(ClientKeys::key_set(set))),
            ClientKeys::Remote(uri) => uri,
        };
        let (cached, due) = self.cached(uri, refetch);
        if let (Some(keys), false) = (&cached, due) {
            return Ok(keys.clone());
        }
        match self.fetch(uri).await {
            Ok(fetched) => {
                self.remember(uri, fetched.clone());
                Ok(fetched)
            }
            Err(error) => {
                // The attempt counts as a fetch either way: a failing host is asked again only
                // after the interval, with the last good copy (or none) used meanwhile.
                self.remember(uri, cached.clone().unwrap_or_default());
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
