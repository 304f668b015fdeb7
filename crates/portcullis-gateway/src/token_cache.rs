//! What the gateway remembers about tokens, by the token's SHA-256, each entry until a time of
//! its own: verified identities until the token expires (or, introspected, until the cache time
//! runs out), and tokens an issuer called inactive for a few seconds. Bounded: when full, expired
//! entries go, and if none had expired the cache starts over (a flood of distinct tokens costs
//! verification, not memory).

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries of `V` by token digest, each valid until a Unix time.
pub struct TokenCache<V> {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], (V, i64)>>,
}

impl<V: Clone> TokenCache<V> {
    /// A cache of at most `capacity` entries (0: remembers nothing).
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entry of `digest`, if it is still valid at `now`.
    pub fn get(&self, digest: &[u8; 32], now: i64) -> Option<V> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(digest)
            .filter(|(_, until)| *until > now)
            .map(|(value, _)| value.clone())
    }

    /// Remembers `value` for `digest` until `until`.
    pub fn insert(&self, digest: [u8; 32], value: V, until: i64, now: i64) {
        if self.capacity == 0 || until <= now {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(digest, (value, until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_last_until_their_time_and_the_cache_stays_bounded() {
        let cache = TokenCache::new(2);
        cache.insert([1; 32], "a", 10, 0);
        cache.insert([2; 32], "b", 5, 0);
        assert_eq!(cache.get(&[1; 32], 9), Some("a"));
        assert_eq!(cache.get(&[1; 32], 10), None, "not at its time");
        cache.insert([3; 32], "c", 20, 6);
        assert_eq!(cache.get(&[2; 32], 4), None, "the expired entry made room");
        assert_eq!(cache.get(&[1; 32], 6), Some("a"));
        cache.insert([4; 32], "d", 20, 6);
        assert_eq!(cache.get(&[4; 32], 6), Some("d"));
        assert_eq!(
            cache.get(&[1; 32], 6),
            None,
            "full of live entries: started over"
        );
        cache.insert([5; 32], "e", 3, 6);
        assert_eq!(cache.get(&[5; 32], 2), None, "already past: not kept");
    }
}
