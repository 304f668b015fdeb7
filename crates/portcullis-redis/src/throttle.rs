//! Sign-in throttling shared by every auth server of a cluster: each counter lives in Redis and
//! is read, decided and written by one Lua script (the rule of
//! [`portcullis_core::throttle::ThrottlePolicy::reserve`]), so a reservation is atomic across
//! servers and N servers allow no more guesses than one. The account and network counters are
//! reserved in parallel, one round trip. While Redis cannot answer, each server counts in memory.

use crate::RedisLink;
use async_trait::async_trait;
use portcullis_core::UnixSeconds;
use portcullis_core::throttle::{AttemptKeys, Reservation, Rule, ThrottleDecision, ThrottlePolicy};
use portcullis_service::{MemoryThrottle, SignInThrottle, StoreError};
use std::sync::Arc;

/// Reserves an attempt on one counter (a hash: `c` failures, `l` the last one's time). ARGV:
/// now, how long a counter is remembered, failures that lock (0: never), lock duration. Returns
/// `{0, failures before}` when counted, `{1, locked until}` when locked.
const RESERVE: &str = r"
local now = tonumber(ARGV[1])
local memory = tonumber(ARGV[2])
local count = tonumber(redis.call('HGET', KEYS[1], 'c')) or 0
local last = tonumber(redis.call('HGET', KEYS[1], 'l')) or 0
if now - last >= memory then count = 0 end
local lock_after = tonumber(ARGV[3])
if lock_after > 0 and count >= lock_after and now < last + tonumber(ARGV[4]) then
  return {1, last + tonumber(ARGV[4])}
end
redis.call('HSET', KEYS[1], 'c', count + 1, 'l', now)
redis.call('EXPIRE', KEYS[1], memory)
return {0, count}
";

/// Gives a network counter its reservation back after a success.
const GIVE_BACK: &str = r"
local count = tonumber(redis.call('HGET', KEYS[1], 'c')) or 0
if count > 0 then redis.call('HINCRBY', KEYS[1], 'c', -1) end
return 0
";

/// The cluster's throttle, with this server's counters as the fallback.
pub struct RedisThrottle {
    link: Arc<RedisLink>,
    prefix: String,
    policy: ThrottlePolicy,
    reserve: redis::Script,
    give_back: redis::Script,
    local: MemoryThrottle,
}

impl std::fmt::Debug for RedisThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisThrottle")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisThrottle {
    /// A throttle whose keys start with `<prefix>:throttle:`.
    pub fn new(link: Arc<RedisLink>, prefix: &str, policy: ThrottlePolicy) -> Self {
        RedisThrottle {
            link,
            prefix: format!("{prefix}:throttle:"),
            policy,
            reserve: redis::Script::new(RESERVE),
            give_back: redis::Script::new(GIVE_BACK),
            local: MemoryThrottle::new(policy),
        }
    }

    /// The Redis key of a counter: hashed, so a username of any length or content names a short,
    /// plain key.
    fn key(&self, counter: &str) -> String {
        let digest = portcullis_jose::sha256(counter.as_bytes());
        format!(
            "{}{}",
            self.prefix,
            portcullis_jose::base64url::encode(digest)
        )
    }

    async fn reserve_one(
        &self,
        rule: Rule,
        counter: &str,
        now: UnixSeconds,
    ) -> Result<Reservation, redis::RedisError> {
        let mut connection =
            self.link.connection().await.map_err(|error| {
                redis::RedisError::from(std::io::Error::other(error.to_string()))
            })?;
        let lock_after = match rule {
            Rule::Account => self.policy.lock_after,
            Rule::Network => 0,
        };
        let (locked, value): (i64, i64) = self
            .reserve
            .key(self.key(counter))
            .arg(now)
            .arg(self.policy.memory_secs())
            .arg(lock_after)
            .arg(self.policy.lock_secs)
            .invoke_async(&mut connection)
            .await?;
        Ok(if locked == 1 {
            Reservation::Locked(value)
        } else {
            Reservation::Counted(u32::try_from(value).unwrap_or(u32::MAX))
        })
    }

    async fn succeed_in_redis(&self, keys: &AttemptKeys) -> Result<(), redis::RedisError> {
        let mut account =
            self.link.connection().await.map_err(|error| {
                redis::RedisError::from(std::io::Error::other(error.to_string()))
            })?;
        let mut network = account.clone();
        let mut delete = redis::cmd("DEL");
        delete.arg(self.key(&keys.account));
        let forget = delete.exec_async(&mut account);
        let give_back = self.give_back.key(self.key(&keys.network));
        let give_back = give_back.invoke_async::<i64>(&mut network);
        let (forgotten, given_back) = tokio::join!(forget, give_back);
        forgotten?;
        given_back.map(drop)
    }
}

#[async_trait]
impl SignInThrottle for RedisThrottle {
    async fn reserve(
        &self,
        keys: &AttemptKeys,
        now: UnixSeconds,
    ) -> Result<ThrottleDecision, StoreError> {
        let (account, network) = tokio::join!(
            self.reserve_one(Rule::Account, &keys.account, now),
            self.reserve_one(Rule::Network, &keys.network, now),
        );
        match (account, network) {
            (Ok(account), Ok(network)) => Ok(self.policy.decide(account, network)),
            (Err(error), _) | (_, Err(error)) => {
                self.link.failed();
                tracing::warn!(%error, "Redis sign-in throttle unavailable; counting on this server");
                Ok(self.local.reserve_now(keys, now))
            }
        }
    }

    async fn succeeded(&self, keys: &AttemptKeys, _now: UnixSeconds) -> Result<(), StoreError> {
        self.local.succeeded_now(keys);
        if let Err(error) = self.succeed_in_redis(keys).await {
            self.link.failed();
            tracing::warn!(%error, "Redis sign-in throttle unavailable; counting on this server");
        }
        Ok(())
    }
}
