//! Single use within a window: remembers keys (a DPoP proof's `jti` with its key) until they
//! expire, so a second use of one is recognized. In memory, bounded: when full, expired keys go
//! first, and if none had expired the new key is refused rather than an old one forgotten (a
//! forgotten key could be replayed).

/// Unix seconds.
type UnixSeconds = i64;
use std::collections::HashMap;
use std::sync::Mutex;

/// Proofs one process remembers at most at once (about 150 bytes each), without Redis or while
/// it is away.
pub const PROOFS_REMEMBERED: usize = 200_000;

/// What a use of a key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    /// Not seen before: remembered now.
    Yes,
    /// Seen before, within its window: a replay.
    Replayed,
    /// Too many live keys to remember another: refuse for now.
    Full,
}

/// Keys seen, each until its expiry.
#[derive(Debug)]
pub struct ReplayWindow {
    capacity: usize,
    seen: Mutex<HashMap<String, UnixSeconds>>,
}

impl ReplayWindow {
    /// A window remembering at most `capacity` live keys.
    pub fn new(capacity: usize) -> Self {
        ReplayWindow {
            capacity,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records a use of `key`, live until `until`.
    pub fn first_use(&self, key: String, until: UnixSeconds, now: UnixSeconds) -> FirstUse {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.get(&key).is_some_and(|expiry| *expiry > now) {
            return FirstUse::Replayed;
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, expiry| *expiry > now);
            if seen.len() >= self.capacity {
                return FirstUse::Full;
            }
        }
        seen.insert(key, until);
        FirstUse::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_used_once_within_its_window_and_nothing_is_forgotten_early() {
        let window = ReplayWindow::new(2);
        assert_eq!(window.first_use("a".into(), 100, 10), FirstUse::Yes);
        assert_eq!(window.first_use("a".into(), 100, 50), FirstUse::Replayed);
        assert_eq!(window.first_use("b".into(), 100, 50), FirstUse::Yes);
        assert_eq!(
            window.first_use("c".into(), 100, 50),
            FirstUse::Full,
            "a and b still live"
        );
        assert_eq!(
            window.first_use("c".into(), 200, 100),
            FirstUse::Yes,
            "a and b expired"
        );
        assert_eq!(window.first_use("a".into(), 200, 100), FirstUse::Yes);
    }
}
