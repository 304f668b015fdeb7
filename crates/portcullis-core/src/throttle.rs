//! Brute-force protection for sign-in, as rules on two counters per attempt: one for the account
//! (the username as typed, case-folded) and one for the network it comes from (an IPv4 address,
//! or the /64 of an IPv6 one, since a single host commonly holds a whole /64).
//!
//! * An attempt is **reserved** before the password is checked: it counts as a failure at once,
//!   atomically, so a thousand concurrent guesses cannot all pass a check made before any of them
//!   was recorded. A success gives the reservation back.
//! * Only the account rule **locks**: a few free failures, then each attempt waits longer
//!   (doubling up to a ceiling), then the account is locked for a while.
//! * The network rule only **slows down**, after many more free failures, and never locks: an
//!   attacker behind the same proxy or NAT as others cannot lock them out. A success for one
//!   account does not clear the network's failures, so an attacker cannot reset its own count
//!   with an account of its own.
//!
//! The counters live in memory or in the cluster's Redis (`portcullis_service::SignInThrottle`);
//! this module holds the rules both follow.

use crate::UnixSeconds;
use std::net::IpAddr;
use std::time::Duration;

/// Throttling thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Account failures allowed without delay.
    pub free_attempts: u32,
    /// Account failures after which the account is locked.
    pub lock_after: u32,
    /// How long a lock lasts.
    pub lock_secs: i64,
    /// Failures older than this are forgotten.
    pub window_secs: i64,
    /// Network failures allowed without delay (many users may share one address).
    pub network_free_attempts: u32,
    /// Counters remembered at most per rule, when kept in memory.
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
            network_free_attempts: 20,
            max_keys: 100_000,
            base_delay_ms: 250,
        }
    }
}

/// Which rule a counter follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Per account: delays, then a lock.
    Account,
    /// Per network: delays only.
    Network,
}

/// A counter's state: failures within the window and when the last one was counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// Failures counted.
    pub count: u32,
    /// When the last was counted.
    pub last: UnixSeconds,
}

/// What reserving an attempt on one counter found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted; this many failures were counted before it.
    Counted(u32),
    /// Not counted: the account is locked until then.
    Locked(UnixSeconds),
}

/// What to do with an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Go ahead after waiting this long.
    Allow(Duration),
    /// Refuse without checking the password, until the given time.
    Locked(UnixSeconds),
}

/// The two counters of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptKeys {
    /// The account: the username as typed, case-folded.
    pub account: String,
    /// The network: `ip:<IPv4>` or `ip:<IPv6 /64>`.
    pub network: String,
}

impl AttemptKeys {
    /// The keys of an attempt on `username` from `client`.
    pub fn new(username: &str, client: IpAddr) -> Self {
        let network = match client.to_canonical() {
            IpAddr::V4(ip) => format!("ip:{ip}"),
            IpAddr::V6(ip) => {
                let segments = ip.segments();
                format!(
                    "ip:{:x}:{:x}:{:x}:{:x}::/64",
                    segments[0], segments[1], segments[2], segments[3]
                )
            }
        };
        AttemptKeys {
            account: format!("user:{}", username.to_ascii_lowercase()),
            network,
        }
    }

    /// The keys of an attempt at something else than sign-in (`purpose`: `reset`, `register`,
    /// `verify-mail`) on `subject` (an address key) from `client`: counters of their own, with
    /// the same design.
    pub fn for_purpose(purpose: &str, subject: &str, client: IpAddr) -> Self {
        let network = AttemptKeys::new("", client).network;
        AttemptKeys {
            account: format!("{purpose}:{subject}"),
            network: format!("{purpose}:{network}"),
        }
    }

    /// Counters of `purpose` for `client`'s network alone (an IPv4 address or an IPv6 /64):
    /// what a network may do, whoever it claims to be.
    pub fn per_network(purpose: &str, client: IpAddr) -> Self {
        let network = AttemptKeys::new("", client).network;
        AttemptKeys {
            account: format!("{purpose}:{network}"),
            network: format!("{purpose}-network:{network}"),
        }
    }
}

impl ThrottlePolicy {
    /// How long a counter is remembered after its last failure.
    pub fn memory_secs(&self) -> i64 {
        self.window_secs.max(self.lock_secs).max(1)
    }

    /// Reserves an attempt on a counter in state `current` at `now`: the new state, and what was
    /// found. The same rule whether the counter is in memory or in Redis (its Lua script mirrors
    /// this function).
    pub fn reserve(
        &self,
        rule: Rule,
        current: Failures,
        now: UnixSeconds,
    ) -> (Failures, Reservation) {
        let live = if now - current.last < self.memory_secs() {
            current
        } else {
            Failures::default()
        };
        if rule == Rule::Account
            && live.count >= self.lock_after
            && now < live.last + self.lock_secs
        {
            return (live, Reservation::Locked(live.last + self.lock_secs));
        }
        let next = Failures {
            count: live.count.saturating_add(1),
            last: now,
        };
        (next, Reservation::Counted(live.count))
    }

    /// The counter after a successful attempt: an account starts over; a network only gets its
    /// reservation back.
    pub fn succeeded(&self, rule: Rule, current: Failures) -> Failures {
        match rule {
            Rule::Account => Failures::default(),
            Rule::Network => Failures {
                count: current.count.saturating_sub(1),
                ..current
            },
        }
    }

    /// The wait before an attempt, given the failures counted before it under `rule`.
    pub fn delay(&self, rule: Rule, failures_before: u32) -> Duration {
        let free = match rule {
            Rule::Account => self.free_attempts,
            Rule::Network => self.network_free_attempts,
        };
        let excess = failures_before.saturating_sub(free);
        if excess == 0 {
            return Duration::ZERO;
        }
        let millis = self
            .base_delay_ms
            .saturating_mul(1 << excess.min(4))
            .min(self.base_delay_ms.saturating_mul(16));
        Duration::from_millis(millis)
    }

    /// The decision from both reservations.
    pub fn decide(&self, account: Reservation, network: Reservation) -> ThrottleDecision {
        match (account, network) {
            (Reservation::Locked(until), _) | (_, Reservation::Locked(until)) => {
                ThrottleDecision::Locked(until)
            }
            (Reservation::Counted(account), Reservation::Counted(network)) => {
                ThrottleDecision::Allow(
                    self.delay(Rule::Account, account)
                        .max(self.delay(Rule::Network, network)),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: &ThrottlePolicy, rule: Rule, state: &mut Failures, now: i64) -> Reservation {
        let (next, reservation) = policy.reserve(rule, *state, now);
        *state = next;
        reservation
    }

    #[test]
    fn accounts_are_delayed_then_locked_then_forgiven() {
        let policy = ThrottlePolicy::default();
        let mut account = Failures::default();
        let delays: Vec<Duration> = (0..10)
            .map(|_| match run(&policy, Rule::Account, &mut account, 100) {
                Reservation::Counted(before) => policy.delay(Rule::Account, before),
                Reservation::Locked(_) => panic!("locked too early"),
            })
            .collect();
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [0, 0, 0, 0, 500, 1000, 2000, 4000, 4000, 4000]);
        assert_eq!(
            run(&policy, Rule::Account, &mut account, 101),
            Reservation::Locked(100 + 900),
            "the eleventh attempt is not even counted"
        );
        assert_eq!(account.count, 10);
        assert_eq!(
            run(&policy, Rule::Account, &mut account, 100 + 900 + 900),
            Reservation::Counted(0),
            "forgotten after the window"
        );
        assert_eq!(
            policy.succeeded(Rule::Account, account),
            Failures::default()
        );
    }

    #[test]
    fn networks_are_only_slowed_and_keep_their_failures_after_a_success() {
        let policy = ThrottlePolicy::default();
        let mut network = Failures::default();
        for _ in 0..100 {
            assert!(matches!(
                run(&policy, Rule::Network, &mut network, 100),
                Reservation::Counted(_)
            ));
        }
        assert_eq!(policy.delay(Rule::Network, 20), Duration::ZERO);
        assert_eq!(policy.delay(Rule::Network, 99), Duration::from_millis(4000));
        let after_success = policy.succeeded(Rule::Network, network);
        assert_eq!(
            after_success.count, 99,
            "only the reservation is given back"
        );
        assert_eq!(
            policy.decide(Reservation::Counted(0), Reservation::Counted(99)),
            ThrottleDecision::Allow(Duration::from_millis(4000))
        );
        assert_eq!(
            policy.decide(Reservation::Locked(7), Reservation::Counted(0)),
            ThrottleDecision::Locked(7)
        );
    }

    #[test]
    fn keys_fold_case_and_group_ipv6_by_64() {
        let v6 = |text: &str| AttemptKeys::new("Alice", text.parse().expect("ip"));
        assert_eq!(v6("2001:db8:1:2:aaaa::1").account, "user:alice");
        assert_eq!(
            v6("2001:db8:1:2:aaaa::1").network,
            v6("2001:db8:1:2:ffff:1:2:3").network,
            "one /64"
        );
        assert_ne!(v6("2001:db8:1:2::1").network, v6("2001:db8:1:3::1").network);
        assert_eq!(
            v6("::ffff:192.0.2.7").network,
            "ip:192.0.2.7",
            "IPv4-mapped"
        );
    }
}
