//! Where sign-in failures are counted ([`portcullis_core::throttle`]): in this process's memory,
//! or in the cluster's Redis so that N servers do not allow N times the guesses. Reserving an
//! attempt is atomic per counter.

use crate::StoreError;
use async_trait::async_trait;
use portcullis_core::UnixSeconds;
use portcullis_core::throttle::{
    AttemptKeys, Failures, Reservation, Rule, ThrottleDecision, ThrottlePolicy,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// Counters of sign-in failures.
#[async_trait]
pub trait SignInThrottle: Send + Sync {
    /// Reserves an attempt (counted as a failure before the password is checked) on the account
    /// and the network, and decides whether it may go ahead.
    async fn reserve(
        &self,
        keys: &AttemptKeys,
        now: UnixSeconds,
    ) -> Result<ThrottleDecision, StoreError>;
    /// The reserved attempt succeeded.
    async fn succeeded(&self, keys: &AttemptKeys, now: UnixSeconds) -> Result<(), StoreError>;
}

/// The counters of one process, bounded: past `max_keys` per rule, the stalest counter goes.
#[derive(Debug)]
pub struct MemoryThrottle {
    policy: ThrottlePolicy,
    counters: Mutex<HashMap<String, Failures>>,
}

impl MemoryThrottle {
    /// Empty counters following `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        MemoryThrottle {
            policy,
            counters: Mutex::new(HashMap::new()),
        }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves, under one lock for both counters.
    pub fn reserve_now(&self, keys: &AttemptKeys, now: UnixSeconds) -> ThrottleDecision {
        let mut counters = self.counters();
        let mut reserve = |rule: Rule, key: &str| {
            let current = counters.get(key).copied().unwrap_or_default();
            let (next, reservation) = self.policy.reserve(rule, current, now);
            if !counters.contains_key(key) && counters.len() >= self.policy.max_keys.max(1) * 2 {
                evict_stalest(&mut counters);
            }
            counters.insert(key.to_owned(), next);
            reservation
        };
        let account = reserve(Rule::Account, &keys.account);
        let network = match account {
            Reservation::Locked(_) => Reservation::Counted(0),
            Reservation::Counted(_) => reserve(Rule::Network, &keys.network),
        };
        self.policy.decide(account, network)
    }

    /// Records a success.
    pub fn succeeded_now(&self, keys: &AttemptKeys) {
        let mut counters = self.counters();
        counters.remove(&keys.account);
        if let Some(network) = counters.get_mut(&keys.network) {
            *network = self.policy.succeeded(Rule::Network, *network);
        }
    }
}

fn evict_stalest(counters: &mut HashMap<String, Failures>) {
    if let Some(stalest) = counters
        .iter()
        .min_by_key(|(_, failures)| failures.last)
        .map(|(key, _)| key.clone())
    {
        counters.remove(&stalest);
    }
}

#[async_trait]
impl SignInThrottle for MemoryThrottle {
    async fn reserve(
        &self,
        keys: &AttemptKeys,
        now: UnixSeconds,
    ) -> Result<ThrottleDecision, StoreError> {
        Ok(self.reserve_now(keys, now))
    }

    async fn succeeded(&self, keys: &AttemptKeys, _now: UnixSeconds) -> Result<(), StoreError> {
        self.succeeded_now(keys);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn memory_is_bounded_and_a_success_frees_the_account_only() {
        let throttle = MemoryThrottle::new(ThrottlePolicy {
            max_keys: 2,
            ..ThrottlePolicy::default()
        });
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for (index, name) in ["a", "b", "c", "d"].iter().enumerate() {
            throttle.reserve_now(&AttemptKeys::new(name, ip), 10 + index as i64);
        }
        assert!(throttle.counters().len() <= 4);
        let keys = AttemptKeys::new("e", ip);
        throttle.reserve_now(&keys, 20);
        throttle.succeeded_now(&keys);
        let counters = throttle.counters();
        assert!(!counters.contains_key(&keys.account));
        assert!(
            counters
                .get(&keys.network)
                .is_some_and(|network| network.count >= 1)
        );
    }
}
