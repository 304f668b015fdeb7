//! A cluster-wide GCRA rate limit: the theoretical arrival time of each key lives in Redis and is
//! read, decided and written by one Lua script, so a decision is atomic and one round trip. The
//! script reads the Redis server's clock, so gateways on different machines agree on time.

use crate::{RedisError, RedisLink};
use std::sync::Arc;
use std::time::Duration;

/// GCRA on the server's clock, in microseconds. Returns `{1, reset}` when allowed (reset: time
/// until the bucket is full again) or `{0, wait}` when refused. A key expires once replenished.
const SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local arrival = tonumber(redis.call('GET', KEYS[1])) or now
if arrival < now then arrival = now end
local allowed_from = arrival - tolerance
if now < allowed_from then
  return {0, allowed_from - now}
end
local next = arrival + interval
redis.call('SET', KEYS[1], next, 'PX', math.ceil((next - now) / 1000) + 1)
return {1, next - now}
";

/// A decision of the shared limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcraDecision {
    /// Allowed; the bucket is full again after this long.
    Allowed {
        /// Time until fully replenished.
        reset: Duration,
    },
    /// Refused; a request would be allowed after this long.
    Refused {
        /// The wait.
        retry_after: Duration,
    },
}

/// The shared limiter.
#[derive(Debug, Clone)]
pub struct RedisGcra {
    link: Arc<RedisLink>,
    script: Arc<redis::Script>,
    prefix: String,
}

impl RedisGcra {
    /// A limiter whose keys start with `<prefix>:rate:`.
    pub fn new(link: Arc<RedisLink>, prefix: &str) -> Self {
        RedisGcra {
            link,
            script: Arc::new(redis::Script::new(SCRIPT)),
            prefix: format!("{prefix}:rate:"),
        }
    }

    /// Counts one request of `key`: one per `interval`, bursts of `burst`.
    ///
    /// # Errors
    /// [`RedisError::Unavailable`] when Redis cannot answer now; the caller decides locally.
    pub async fn acquire(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<GcraDecision, RedisError> {
        let interval_us = micros(interval).max(1);
        let tolerance_us = interval_us.saturating_mul(u64::from(burst.saturating_sub(1)));
        let mut connection = self.link.connection().await?;
        let reply: Result<(i64, i64), _> = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(interval_us)
            .arg(tolerance_us)
            .invoke_async(&mut connection)
            .await;
        let (allowed, micros) = reply.map_err(|error| {
            self.link.failed();
            RedisError::Unavailable(error.to_string())
        })?;
        let span = Duration::from_micros(u64::try_from(micros).unwrap_or(0));
        match allowed {
            1 => Ok(GcraDecision::Allowed { reset: span }),
            0 => Ok(GcraDecision::Refused { retry_after: span }),
            other => Err(RedisError::Protocol(format!(
                "rate script returned {other}"
            ))),
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
