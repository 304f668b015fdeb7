//! Brute-force protection for sign-in: failures are counted per key (a username, a client IP);
//! after a few free attempts each further attempt is delayed, doubling up to a ceiling, and after
//! more the key is locked for a while. Memory is bounded: past `max_keys` the stalest key goes.

use crate::UnixSeconds;
use std::collections::HashMap;
use std::time::Duration;

/// Throttling thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed without delay.
    pub free_attempts: u32,
    /// Failures after which the key is locked.
    pub lock_after: u32,
    /// How long a lock lasts.
    pub lock_secs: i64,
    /// Failures older than this are forgotten.
    pub window_secs: i64,
    /// Keys remembered at most.
    pub max_keys: usize,
    /// Delay after the first failure beyond the free ones; it doubles with each further failure.
    pub base_delay_ms: u64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            free_attempts: 3,
            lock_after: 10,
            lock_secs: 15 * 60,
            window_secs: 15 * 60,
            max_keys: 100_000,
            base_delay_ms: 250,
        }
    }
}

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Go ahead after waiting this long.
    Allow(Duration),
    /// Refuse without checking the password, until the given time.
    Locked(UnixSeconds),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: UnixSeconds,
}

/// Failure counts per key.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    failures: HashMap<String, Failures>,
}

impl LoginThrottle {
    /// An empty throttle.
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle {
            policy,
            failures: HashMap::new(),
        }
    }

    fn live(&self, key: &str, now: UnixSeconds) -> Option<Failures> {
        self.failures.get(key).copied().filter(|failures| {
            now - failures.last < self.policy.window_secs.max(self.policy.lock_secs)
        })
    }

    /// The decision for the next attempt on `key`.
    pub fn check(&self, key: &str, now: UnixSeconds) -> ThrottleDecision {
        let Some(failures) = self.live(key, now) else {
            return ThrottleDecision::Allow(Duration::ZERO);
        };
        if failures.count >= self.policy.lock_after && now < failures.last + self.policy.lock_secs {
            return ThrottleDecision::Locked(failures.last + self.policy.lock_secs);
        }
        let excess = failures.count.saturating_sub(self.policy.free_attempts);
        if excess == 0 {
            return ThrottleDecision::Allow(Duration::ZERO);
        }
        let millis = self.policy.base_delay_ms.saturating_mul(1 << excess.min(4));
        ThrottleDecision::Allow(Duration::from_millis(
            millis.min(16 * self.policy.base_delay_ms),
        ))
    }

    /// Counts a failed attempt.
    pub fn record_failure(&mut self, key: &str, now: UnixSeconds) {
        let count = self.live(key, now).map_or(0, |failures| failures.count);
        if !self.failures.contains_key(key)
            && self.failures.len() >= self.policy.max_keys
            && let Some(stalest) = self
                .failures
                .iter()
                .min_by_key(|(_, failures)| failures.last)
                .map(|(key, _)| key.clone())
        {
            self.failures.remove(&stalest);
        }
        self.failures.insert(
            key.to_owned(),
            Failures {
                count: count + 1,
                last: now,
            },
        );
    }

    /// Forgets the failures of `key` after a success.
    pub fn record_success(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_lock_then_expire() {
        let mut throttle = LoginThrottle::new(ThrottlePolicy {
            max_keys: 2,
            ..ThrottlePolicy::default()
        });
        for _ in 0..3 {
            throttle.record_failure("bob", 100);
        }
        assert_eq!(
            throttle.check("bob", 100),
            ThrottleDecision::Allow(Duration::ZERO)
        );
        throttle.record_failure("bob", 100);
        assert_eq!(
            throttle.check("bob", 100),
            ThrottleDecision::Allow(Duration::from_millis(500))
        );
        for _ in 0..6 {
            throttle.record_failure("bob", 101);
        }
        assert_eq!(
            throttle.check("bob", 102),
            ThrottleDecision::Locked(101 + 900)
        );
        assert_eq!(
            throttle.check("bob", 1001),
            ThrottleDecision::Allow(Duration::ZERO),
            "lock expired"
        );
        throttle.record_failure("ann", 5);
        throttle.record_success("ann");
        assert_eq!(
            throttle.check("ann", 5),
            ThrottleDecision::Allow(Duration::ZERO)
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut throttle = LoginThrottle::new(ThrottlePolicy {
            max_keys: 2,
            ..ThrottlePolicy::default()
        });
        throttle.record_failure("a", 1);
        throttle.record_failure("b", 2);
        throttle.record_failure("c", 3);
        assert_eq!(throttle.failures.len(), 2);
        assert!(
            !throttle.failures.contains_key("a"),
            "the stalest key is dropped"
        );
    }
}
