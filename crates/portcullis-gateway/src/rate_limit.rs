//! Rate limiting with GCRA (the generic cell rate algorithm): one timestamp per key, exact
//! bursts, O(1) per decision. Memory is bounded: past `max_keys`, fully replenished keys are
//! dropped first, then the stalest. [`RateLimiter`] is a trait so a shared store (Redis) can back
//! it when several gateways must share one limit.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What identifies a caller for a route's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitKey {
    /// The token's `sub`.
    Subject,
    /// The token's `client_id`.
    Client,
    /// The client address (from `X-Forwarded-For` only behind trusted proxies).
    ClientIp,
}

/// `requests` per `period`, bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitRule {
    /// Requests per period.
    pub requests: u32,
    /// The period.
    pub period: Duration,
    /// Requests allowed at once.
    pub burst: u32,
    /// What the limit is per.
    pub key: RateLimitKey,
}

impl RateLimitRule {
    /// A rule; `None` if any number is zero.
    pub fn new(requests: u32, per_secs: u32, burst: u32, key: RateLimitKey) -> Option<Self> {
        (requests > 0 && per_secs > 0 && burst > 0).then(|| RateLimitRule {
            requests,
            period: Duration::from_secs(u64::from(per_secs)),
            burst,
            key,
        })
    }

    /// The time between two requests at the sustained rate.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.requests
    }
}

/// A decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Allowed; this many more would be allowed right now, and the bucket is full again after `reset`.
    Allow {
        /// Requests left in the current burst.
        remaining: u32,
        /// Time until fully replenished.
        reset: Duration,
    },
    /// Refused; retry after this long.
    Deny {
        /// When a request would be allowed again.
        retry_after: Duration,
    },
}

/// Decides requests against a rule for a key.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request of `key` under `rule` at `now`.
    async fn acquire(&self, key: &str, rule: &RateLimitRule, now: Instant) -> RateDecision;
}

/// An in-process GCRA limiter.
#[derive(Debug)]
pub struct LocalRateLimiter {
    origin: Instant,
    max_keys: usize,
    /// Theoretical arrival time per key, in nanoseconds since `origin`.
    arrivals: Mutex<HashMap<String, u128>>,
}

impl LocalRateLimiter {
    /// A limiter remembering at most `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        LocalRateLimiter {
            origin: Instant::now(),
            max_keys: max_keys.max(1),
            arrivals: Mutex::new(HashMap::new()),
        }
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.arrivals.lock().map_or(0, |arrivals| arrivals.len())
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn acquire(&self, key: &str, rule: &RateLimitRule, now: Instant) -> RateDecision {
        self.decide(key, rule, now)
    }
}

impl LocalRateLimiter {
    /// Counts one request of `key` under `rule` at `now`, in this process only.
    pub fn decide(&self, key: &str, rule: &RateLimitRule, now: Instant) -> RateDecision {
        let now = now.saturating_duration_since(self.origin).as_nanos();
        let interval = rule.emission_interval().as_nanos();
        let tolerance = interval * u128::from(rule.burst - 1);
        let mut arrivals = self
            .arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !arrivals.contains_key(key) && arrivals.len() >= self.max_keys {
            arrivals.retain(|_, arrival| *arrival > now);
            if arrivals.len() >= self.max_keys
                && let Some(stalest) = arrivals
                    .iter()
                    .min_by_key(|(_, arrival)| **arrival)
                    .map(|(key, _)| key.clone())
            {
                arrivals.remove(&stalest);
            }
        }
        let arrival = arrivals.get(key).copied().unwrap_or(now).max(now);
        let allowed_from = arrival.saturating_sub(tolerance);
        if now < allowed_from {
            let wait = allowed_from - now;
            return RateDecision::Deny {
                retry_after: Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX)),
            };
        }
        let next = arrival + interval;
        arrivals.insert(key.to_owned(), next);
        let used = (next - now).div_ceil(interval.max(1));
        let remaining = u32::try_from(u128::from(rule.burst).saturating_sub(used)).unwrap_or(0);
        RateDecision::Allow {
            remaining,
            reset: Duration::from_nanos(u64::try_from(next - now).unwrap_or(u64::MAX)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces_then_recovers() {
        let limiter = LocalRateLimiter::new(10);
        let rule = RateLimitRule::new(2, 1, 3, RateLimitKey::ClientIp).expect("rule");
        let start = Instant::now();
        let decisions: Vec<bool> = (0..4)
            .map(|_| {
                matches!(
                    limiter.decide("a", &rule, start),
                    RateDecision::Allow { .. }
                )
            })
            .collect();
        assert_eq!(decisions, [true, true, true, false], "burst of 3");
        match limiter.decide("a", &rule, start) {
            RateDecision::Deny { retry_after } => {
                assert!(retry_after <= Duration::from_millis(500))
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(
                limiter.decide("b", &rule, start),
                RateDecision::Allow { remaining: 2, .. }
            ),
            "keys are separate"
        );
        assert!(matches!(
            limiter.decide("a", &rule, start + Duration::from_millis(500)),
            RateDecision::Allow { .. }
        ));
        assert!(matches!(
            limiter.decide("a", &rule, start + Duration::from_millis(500)),
            RateDecision::Deny { .. }
        ));
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = LocalRateLimiter::new(3);
        let rule = RateLimitRule::new(1, 60, 1, RateLimitKey::ClientIp).expect("rule");
        let now = Instant::now();
        for key in 0..100 {
            limiter.decide(&key.to_string(), &rule, now);
        }
        assert!(limiter.len() <= 3);
    }
}
