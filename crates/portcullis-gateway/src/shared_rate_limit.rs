//! Rate limits shared by every gateway of a cluster, in Redis (`portcullis_redis::RedisGcra`).
//! When Redis cannot answer, each gateway decides with its own [`LocalRateLimiter`]: requests are
//! still limited, per gateway instead of per cluster, until Redis is back.

use crate::metrics::Metrics;
use crate::rate_limit::{LocalRateLimiter, RateDecision, RateLimitRule, RateLimiter};
use async_trait::async_trait;
use portcullis_redis::{GcraDecision, RedisGcra};
use std::sync::Arc;
use std::time::Instant;

/// The cluster-wide limiter with a local fallback.
#[derive(Debug)]
pub struct SharedRateLimiter {
    redis: RedisGcra,
    local: LocalRateLimiter,
    metrics: Arc<Metrics>,
}

impl SharedRateLimiter {
    /// A limiter over `redis`, falling back to `local`.
    pub fn new(redis: RedisGcra, local: LocalRateLimiter, metrics: Arc<Metrics>) -> Self {
        SharedRateLimiter {
            redis,
            local,
            metrics,
        }
    }
}

#[async_trait]
impl RateLimiter for SharedRateLimiter {
    async fn acquire(&self, key: &str, rule: &RateLimitRule, now: Instant) -> RateDecision {
        let interval = rule.emission_interval();
        match self.redis.acquire(key, interval, rule.burst).await {
            Ok(GcraDecision::Allowed { reset }) => {
                let used = reset.as_nanos().div_ceil(interval.as_nanos().max(1));
                RateDecision::Allow {
                    remaining: u32::try_from(u128::from(rule.burst).saturating_sub(used))
                        .unwrap_or(0),
                    reset,
                }
            }
            Ok(GcraDecision::Refused { retry_after }) => RateDecision::Deny { retry_after },
            Err(error) => {
                tracing::debug!(%error, "shared rate limit unavailable; deciding locally");
                self.metrics.rate_limit_fallback();
                self.local.decide(key, rule, now)
            }
        }
    }
}
