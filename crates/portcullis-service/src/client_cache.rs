//! Registered clients kept in memory, so the token endpoint does not read the store for every
//! request. A copy is used for at most `max_age` (one second by default): that bounds how long a
//! change made elsewhere (another server, the admin CLI) can go unseen even when no announcement
//! reaches this server. Changes made through this server, and those announced by others, are
//! forgotten at once. Unknown client ids are never kept, so made-up ids cannot fill memory.

use portcullis_core::{Client, ClusterAnnouncer, RevocationEntry};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Copies kept at most; past this, a lookup reads the store without keeping what it read.
const CAPACITY: usize = 10_000;

/// Clients recently read from the store.
#[derive(Debug)]
pub struct ClientCache {
    entries: RwLock<HashMap<String, Cached>>,
    /// Bumped by every forget: a copy read before a forget is not kept after it.
    generation: AtomicU64,
    max_age: Duration,
}

#[derive(Debug)]
struct Cached {
    client: Arc<Client>,
    read_at: Instant,
}

/// Where a lookup stands: the generation it started in, so a copy read before a change is not
/// kept after it, and when (a copy's age counts from before its store read).
#[derive(Debug, Clone, Copy)]
pub struct Lookup {
    generation: u64,
    started: Instant,
}

impl ClientCache {
    /// Copies used for at most `max_age`; zero keeps nothing.
    pub fn new(max_age: Duration) -> Self {
        ClientCache {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            max_age,
        }
    }

    /// The fresh copy of client `id`, if one is kept, and where a store read starts (to hand to
    /// [`ClientCache::keep`]).
    pub fn get(&self, id: &str) -> (Option<Arc<Client>>, Lookup) {
        // Read before the entry: a forget between the two makes `keep` drop the store's copy.
        let lookup = Lookup {
            generation: self.generation.load(Ordering::Acquire),
            started: Instant::now(),
        };
        let cached = self.entries.read().ok().and_then(|entries| {
            entries
                .get(id)
                .filter(|cached| cached.read_at.elapsed() < self.max_age)
                .map(|cached| cached.client.clone())
        });
        (cached, lookup)
    }

    /// Keeps `client`, read from the store in `lookup`, unless something was forgotten since.
    pub fn keep(&self, lookup: Lookup, client: &Arc<Client>) {
        if self.max_age.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        // Checked under the lock that `forget` takes too.
        if self.generation.load(Ordering::Acquire) != lookup.generation {
            return;
        }
        if entries.len() >= CAPACITY {
            let max_age = self.max_age;
            entries.retain(|_, cached| cached.read_at.elapsed() < max_age);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        entries.insert(
            client.id.clone(),
            Cached {
                client: Arc::clone(client),
                read_at: lookup.started,
            },
        );
    }

    /// Forgets client `id`: it changed or is gone.
    pub fn forget(&self, id: &str) {
        self.forget_where(|entries| {
            entries.remove(id);
        });
    }

    /// Forgets every client: changes may have been missed (announcements were disconnected).
    pub fn forget_all(&self) {
        self.forget_where(HashMap::clear);
    }

    fn forget_where(&self, forget: impl FnOnce(&mut HashMap<String, Cached>)) {
        let mut entries = match self.entries.write() {
            Ok(entries) => entries,
            // A panic elsewhere while holding the lock: start over rather than trust it.
            Err(poisoned) => {
                let mut entries = poisoned.into_inner();
                entries.clear();
                entries
            }
        };
        self.generation.fetch_add(1, Ordering::AcqRel);
        forget(&mut entries);
    }
}

/// Announces through `cluster`, forgetting a changed client's copy here first, so a change made
/// through this server takes effect on it at once.
pub struct ForgetThenAnnounce {
    /// This server's copies.
    pub cache: Arc<ClientCache>,
    /// The rest of the cluster.
    pub cluster: Arc<dyn ClusterAnnouncer>,
}

impl ClusterAnnouncer for ForgetThenAnnounce {
    fn revoked(&self, entry: &RevocationEntry) {
        self.cluster.revoked(entry);
    }

    fn keys_changed(&self) {
        self.cluster.keys_changed();
    }

    fn client_changed(&self, client_id: &str) {
        self.cache.forget(client_id);
        self.cluster.client_changed(client_id);
    }
}

#[cfg(test)]
mod tests {
    use super::ClientCache;
    use portcullis_core::{Client, ClientKind, ClientRegistration, SecretHash};
    use portcullis_types::GrantType;
    use std::sync::Arc;
    use std::time::Duration;

    fn client(id: &str) -> Arc<Client> {
        Arc::new(
            ClientRegistration::new(
                id,
                ClientKind::Confidential,
                vec![GrantType::ClientCredentials],
            )
            .into_client(Some(SecretHash::of("secret")), 3600, 0)
            .expect("valid registration"),
        )
    }

    #[test]
    fn a_kept_copy_is_served_until_forgotten() {
        let cache = ClientCache::new(Duration::from_secs(60));
        let (empty, lookup) = cache.get("app");
        assert!(empty.is_none());
        cache.keep(lookup, &client("app"));
        assert_eq!(cache.get("app").0.expect("kept").id, "app");
        cache.forget("other");
        assert!(cache.get("app").0.is_some(), "another client's change");
        cache.forget("app");
        assert!(cache.get("app").0.is_none());
    }

    #[test]
    fn a_copy_read_before_a_change_is_not_kept() {
        let cache = ClientCache::new(Duration::from_secs(60));
        let (_, lookup) = cache.get("app");
        // The change lands while the store read was under way.
        cache.forget("app");
        cache.keep(lookup, &client("app"));
        assert!(cache.get("app").0.is_none());
    }

    #[test]
    fn copies_expire_and_forget_all_clears() {
        let cache = ClientCache::new(Duration::from_millis(30));
        cache.keep(cache.get("app").1, &client("app"));
        cache.keep(cache.get("web").1, &client("web"));
        assert!(cache.get("app").0.is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get("app").0.is_none(), "older than max_age");

        let cache = ClientCache::new(Duration::from_secs(60));
        cache.keep(cache.get("app").1, &client("app"));
        cache.keep(cache.get("web").1, &client("web"));
        cache.forget_all();
        assert!(cache.get("app").0.is_none() && cache.get("web").0.is_none());
    }

    #[test]
    fn zero_max_age_keeps_nothing() {
        let cache = ClientCache::new(Duration::ZERO);
        cache.keep(cache.get("app").1, &client("app"));
        assert!(cache.get("app").0.is_none());
    }
}
