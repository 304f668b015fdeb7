//! Single use within a window: remembers keys (a DPoP proof's `jti` with its key) until they
//! expire, so a second use of one is recognized. In memory and bounded: each key is kept as 16
//! bytes of its SHA-256, expired keys leave in the order they came (amortized constant time per
//! use, never a scan of the whole set), and when the set is full of live keys a new one is
//! refused rather than an old one forgotten (a forgotten key could be replayed).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Unix seconds.
type UnixSeconds = i64;

/// Live keys one process remembers at most (about 60 bytes each): DPoP proofs live about a
/// minute and a half, so this holds some 20,000 proofs a second.
pub const PROOFS_REMEMBERED: usize = 2_000_000;

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

/// A key as remembered: the first 16 bytes of its SHA-256.
type Digest = [u8; 16];

#[derive(Debug, Default)]
struct Seen {
    /// Each key's expiry.
    expiries: HashMap<Digest, UnixSeconds>,
    /// Keys in the order they came, with the expiry they came with.
    arrivals: VecDeque<(Digest, UnixSeconds)>,
}

impl Seen {
    /// Forgets keys from the oldest arrival on while they have expired.
    fn forget_expired(&mut self, now: UnixSeconds) {
        while let Some(&(digest, until)) = self.arrivals.front() {
            if until > now {
                break;
            }
            self.arrivals.pop_front();
            // Only if it was not used again (with a later expiry) since.
            if self.expiries.get(&digest) == Some(&until) {
                self.expiries.remove(&digest);
            }
        }
    }
}

/// Keys seen, each until its expiry.
#[derive(Debug)]
pub struct ReplayWindow {
    capacity: usize,
    seen: Mutex<Seen>,
}

impl ReplayWindow {
    /// A window remembering at most `capacity` live keys.
    pub fn new(capacity: usize) -> Self {
        ReplayWindow {
            capacity,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records a use of `key`, live until `until`.
    pub fn first_use(&self, key: String, until: UnixSeconds, now: UnixSeconds) -> FirstUse {
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&crate::sha256(key.as_bytes())[..16]);
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.forget_expired(now);
        if seen
            .expiries
            .get(&digest)
            .is_some_and(|expiry| *expiry > now)
        {
            return FirstUse::Replayed;
        }
        if seen.expiries.len() >= self.capacity {
            return FirstUse::Full;
        }
        seen.expiries.insert(digest, until);
        seen.arrivals.push_back((digest, until));
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
