//! The gateway's browser sessions in a cluster's Redis, so any gateway serves any browser: one
//! hash per session under the digest of its cookie (expiring when it goes idle or reaches its
//! absolute end, whichever is first), a set per provider session (`sid`) and a sorted set per
//! user for back-channel logout and the per-user cap, a sorted set of every session for the
//! global cap, and pending sign-ins that expire after ten minutes. Refreshes take a short lock,
//! so one gateway refreshes a session at a time.
//!
//! Every key carries the hash tag `{gateway-sessions}`: in a Redis Cluster they share one slot
//! and each script stays atomic. What a session holds of its tokens is sealed by the gateway
//! with a key only the browser's cookie gives.

use crate::RedisLink;
use crate::fields::Fields;
use async_trait::async_trait;
use portcullis_jose::base64url;
use portcullis_service::StoreError;
use portcullis_service::ports::{
    CreateError, GatewaySessionStore, PendingLogin, SessionRecord, StoreLimits,
};
use std::collections::HashMap;
use std::sync::Arc;

/// A refresh lock is released after this long even if its holder died (longer than a refresh
/// can take: a token request and key fetches, each bounded by the gateway's client timeout).
const REFRESH_LOCK_MS: u64 = 30_000;

/// Sessions of the global set whose keys are checked for having gone, at most, when the set is
/// full (the soonest to end first): a full set never makes one script walk all of it.
const SWEEP: usize = 1_000;

/// Creates the session `KEYS[1]` (fields `ARGV[10..]`) of the user set `KEYS[2]`, the sid set
/// `KEYS[3]` (when `ARGV[7]` is `1`) and the set of all sessions `KEYS[4]`: refused (0) when
/// `ARGV[3]` sessions live (of the `ARGV[9]` soonest to end, those gone are forgotten first), the
/// user's oldest ended beyond `ARGV[4]`. `ARGV[1]` now, `ARGV[2]` the absolute end, `ARGV[5]` the
/// member name, `ARGV[6]` the prefix of session keys, `ARGV[8]` the first idle end.
const CREATE: &str = r"
local now, ends = tonumber(ARGV[1]), tonumber(ARGV[2])
local function gone(member) return redis.call('EXISTS', ARGV[6] .. member) == 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[3]) then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[9]) - 1)) do
    if gone(member) then redis.call('ZREM', KEYS[4], member) end
  end
  if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[3]) then return 0 end
end
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if gone(member) then redis.call('ZREM', KEYS[2], member) end
end
while redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  redis.call('DEL', ARGV[6] .. oldest)
  redis.call('ZREM', KEYS[2], oldest)
  redis.call('ZREM', KEYS[4], oldest)
end
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[8]))
local function keep(key)
  if redis.call('TTL', key) < ends - now then redis.call('EXPIREAT', key, ends) end
end
redis.call('ZADD', KEYS[2], now, ARGV[5])
keep(KEYS[2])
if ARGV[7] == '1' then
  redis.call('SADD', KEYS[3], ARGV[5])
  keep(KEYS[3])
end
redis.call('ZADD', KEYS[4], ends, ARGV[5])
return 1
";

/// The fields of session `KEYS[1]` as they were, its use at `ARGV[1]` recorded and its expiry
/// moved to `ARGV[2]` seconds of idleness later, never past `created_at` + `ARGV[3]`.
const TOUCH: &str = r"
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return fields end
local now = tonumber(ARGV[1])
local created = tonumber(redis.call('HGET', KEYS[1], 'created_at'))
redis.call('HSET', KEYS[1], 'last_seen', now)
redis.call('EXPIREAT', KEYS[1], math.min(now + tonumber(ARGV[2]), created + tonumber(ARGV[3])))
return fields
";

/// Replaces fields `ARGV[3..]` of session `KEYS[1]` if it still exists, and names it (member
/// `ARGV[1]`) in the sid set `KEYS[2]` when `ARGV[2]` is `1` (a refresh may name a new sid).
const UPDATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[2], ARGV[1])
  if redis.call('TTL', KEYS[2]) < redis.call('TTL', KEYS[1]) then
    redis.call('EXPIRE', KEYS[2], redis.call('TTL', KEYS[1]))
  end
end
return 1
";

/// Removes session `KEYS[1]` (member `ARGV[1]` of the set of all sessions `KEYS[2]`); its fields
/// as they were.
const REMOVE: &str = r"
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return fields
";

/// Ends the sessions of the set `KEYS[1]` (a sid set, or, when `ARGV[3]` is `zset`, a user's
/// sorted set) whose `subject` is `ARGV[2]` (any when empty), also leaving that set and the set
/// of all sessions `KEYS[2]`; how many existed.
const END_MATCHING: &str = r"
local members
if ARGV[3] == 'zset' then
  members = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  members = redis.call('SMEMBERS', KEYS[1])
end
local ended = 0
for _, member in ipairs(members) do
  local key = ARGV[1] .. member
  if ARGV[2] == '' or redis.call('HGET', key, 'subject') == ARGV[2] then
    ended = ended + redis.call('DEL', key)
    redis.call('ZREM', KEYS[2], member)
    if ARGV[3] == 'zset' then
      redis.call('ZREM', KEYS[1], member)
    else
      redis.call('SREM', KEYS[1], member)
    end
  end
end
return ended
";

/// Keeps the pending sign-in `KEYS[1]` = `ARGV[4]` for `ARGV[2]` seconds and in the sorted set
/// `KEYS[2]` (member `ARGV[5]`, scored by `ARGV[1]`), forgetting the oldest beyond `ARGV[3]`
/// (keys prefixed `ARGV[6]`).
const BEGIN: &str = r"
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
while redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  redis.call('DEL', ARGV[6] .. oldest)
  redis.call('ZREM', KEYS[2], oldest)
end
redis.call('SET', KEYS[1], ARGV[4], 'EX', ttl)
redis.call('ZADD', KEYS[2], now, ARGV[5])
redis.call('EXPIRE', KEYS[2], ttl)
return 1
";

/// Releases the lock `KEYS[1]` if it is still `ARGV[1]`'s.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Sessions of every gateway of a cluster.
pub struct RedisGatewaySessions {
    link: Arc<RedisLink>,
    limits: StoreLimits,
    /// `<prefix>:{gateway-sessions}:`
    base: String,
    create: redis::Script,
    touch: redis::Script,
    update: redis::Script,
    remove: redis::Script,
    end_matching: redis::Script,
    begin: redis::Script,
    unlock: redis::Script,
}

impl std::fmt::Debug for RedisGatewaySessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisGatewaySessions")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A short, plain key part for any text (a subject or sid).
fn digest(text: &str) -> String {
    portcullis_core::secret::storage_digest(text)
}

impl RedisGatewaySessions {
    /// Sessions under `<prefix>:{gateway-sessions}:`, within `limits`.
    pub fn new(link: Arc<RedisLink>, prefix: &str, limits: StoreLimits) -> Self {
        RedisGatewaySessions {
            link,
            limits,
            base: format!("{prefix}:{{gateway-sessions}}:"),
            create: redis::Script::new(CREATE),
            touch: redis::Script::new(TOUCH),
            update: redis::Script::new(UPDATE),
            remove: redis::Script::new(REMOVE),
            end_matching: redis::Script::new(END_MATCHING),
            begin: redis::Script::new(BEGIN),
            unlock: redis::Script::new(UNLOCK),
        }
    }

    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.base)
    }

    fn failure(&self, error: &redis::RedisError) -> StoreError {
        self.link.store_failure(error)
    }
}

/// A session's hash fields.
fn fields_of(session: &SessionRecord) -> Vec<(&'static str, String)> {
    vec![
        ("subject", session.subject.clone()),
        ("sid", session.provider_session.clone().unwrap_or_default()),
        ("access_expires_at", session.access_expires_at.to_string()),
        ("sealed_tokens", session.sealed_tokens.clone()),
        ("created_at", session.created_at.to_string()),
        ("last_seen", session.last_seen.to_string()),
    ]
}

/// The session of `fields` (`HGETALL`'s answer), if any.
fn session_of(fields: &HashMap<String, String>) -> Result<Option<SessionRecord>, StoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let fields = Fields::new("gateway session", fields);
    Ok(Some(SessionRecord {
        subject: fields.text("subject")?,
        provider_session: fields.optional("sid").filter(|sid| !sid.is_empty()),
        access_expires_at: fields.number("access_expires_at")?,
        sealed_tokens: fields.text("sealed_tokens")?,
        created_at: fields.number("created_at")?,
        last_seen: fields.number("last_seen")?,
    }))
}

#[async_trait]
impl GatewaySessionStore for RedisGatewaySessions {
    async fn begin(&self, key: String, pending: PendingLogin) -> Result<(), StoreError> {
        let value = serde_json::to_string(&pending)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let mut connection = self.link.store_connection().await?;
        self.begin
            .key(self.key("pending", &key))
            .key(self.key("pending-all", ""))
            .arg(pending.created_at)
            .arg(self.limits.pending_timeout_secs)
            .arg(self.limits.max_pending)
            .arg(value)
            .arg(&key)
            .arg(self.key("pending", ""))
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        Ok(())
    }

    async fn take_pending(&self, key: &str, now: i64) -> Result<Option<PendingLogin>, StoreError> {
        let mut connection = self.link.store_connection().await?;
        // GETDEL (Redis 6.2): a callback is used once, even by two gateways at the same time.
        let (value, _): (Option<String>, i64) = redis::pipe()
            .atomic()
            .cmd("GETDEL")
            .arg(self.key("pending", key))
            .cmd("ZREM")
            .arg(self.key("pending-all", ""))
            .arg(key)
            .query_async(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        let Some(value) = value else {
            return Ok(None);
        };
        let pending: PendingLogin = serde_json::from_str(&value)
            .map_err(|_| StoreError::Corrupt("pending sign-in".to_owned()))?;
        Ok(self.limits.is_waiting(&pending, now).then_some(pending))
    }

    async fn create(&self, key: String, session: SessionRecord) -> Result<(), CreateError> {
        let ends = session
            .created_at
            .saturating_add(self.limits.absolute_timeout_secs);
        let idle_end = session
            .created_at
            .saturating_add(self.limits.idle_timeout_secs)
            .min(ends);
        let sid = session.provider_session.clone();
        let mut connection = self.link.store_connection().await?;
        let mut invocation = self.create.key(self.key("session", &key));
        invocation
            .key(self.key("user", &digest(&session.subject)))
            .key(self.key("sid", &digest(sid.as_deref().unwrap_or_default())))
            .key(self.key("all", ""))
            .arg(session.created_at)
            .arg(ends)
            .arg(self.limits.max_sessions)
            .arg(self.limits.sessions_per_user)
            .arg(&key)
            .arg(self.key("session", ""))
            .arg(if sid.is_some() { "1" } else { "0" })
            .arg(idle_end)
            .arg(SWEEP);
        for (name, value) in fields_of(&session) {
            invocation.arg(name).arg(value);
        }
        let created: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        if created == 0 {
            return Err(CreateError::Full);
        }
        Ok(())
    }

    async fn touch(&self, key: &str, now: i64) -> Result<Option<SessionRecord>, StoreError> {
        let mut connection = self.link.store_connection().await?;
        let fields: HashMap<String, String> = self
            .touch
            .key(self.key("session", key))
            .arg(now)
            .arg(self.limits.idle_timeout_secs)
            .arg(self.limits.absolute_timeout_secs)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        match session_of(&fields)? {
            Some(session) if self.limits.is_live(&session, now) => Ok(Some(SessionRecord {
                last_seen: now,
                ..session
            })),
            Some(_) => {
                self.remove(key).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn update(&self, key: &str, session: SessionRecord) -> Result<(), StoreError> {
        let sid = session.provider_session.as_deref();
        let mut connection = self.link.store_connection().await?;
        let mut invocation = self.update.key(self.key("session", key));
        invocation
            .key(self.key("sid", &digest(sid.unwrap_or_default())))
            .arg(key)
            .arg(if sid.is_some() { "1" } else { "0" });
        for (name, value) in fields_of(&session) {
            invocation.arg(name).arg(value);
        }
        invocation
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        let mut connection = self.link.store_connection().await?;
        let fields: HashMap<String, String> = self
            .remove
            .key(self.key("session", key))
            .key(self.key("all", ""))
            .arg(key)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        session_of(&fields)
    }

    async fn end_matching(
        &self,
        subject: Option<&str>,
        provider_session: Option<&str>,
    ) -> Result<usize, StoreError> {
        let (set, kind, subject) = match (provider_session, subject) {
            (Some(sid), subject) => (self.key("sid", &digest(sid)), "set", subject),
            (None, Some(subject)) => (self.key("user", &digest(subject)), "zset", None),
            (None, None) => return Ok(0),
        };
        let mut connection = self.link.store_connection().await?;
        let ended: i64 = self
            .end_matching
            .key(set)
            .key(self.key("all", ""))
            .arg(self.key("session", ""))
            .arg(subject.unwrap_or_default())
            .arg(kind)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        Ok(usize::try_from(ended).unwrap_or_default())
    }

    async fn lock_refresh(&self, key: &str) -> Result<Option<String>, StoreError> {
        // A proof of its own per taking: a holder whose lock expired never releases the next.
        let mut proof = [0u8; 16];
        portcullis_jose::random_bytes(&mut proof)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let proof = base64url::encode(proof);
        let mut connection = self.link.store_connection().await?;
        let taken: Option<String> = redis::cmd("SET")
            .arg(self.key("refreshing", key))
            .arg(&proof)
            .arg("NX")
            .arg("PX")
            .arg(REFRESH_LOCK_MS)
            .query_async(&mut connection)
            .await
            .map_err(|error| self.failure(&error))?;
        Ok(taken.map(|_| proof))
    }

    async fn unlock_refresh(&self, key: &str, proof: &str) {
        let Ok(mut connection) = self.link.store_connection().await else {
            return;
        };
        let released = self
            .unlock
            .key(self.key("refreshing", key))
            .arg(proof)
            .invoke_async::<i64>(&mut connection)
            .await;
        if let Err(error) = released {
            // The lock expires by itself.
            tracing::warn!(%error, "a refresh lock was not released");
            self.link.failed();
        }
    }

    async fn purge(&self, _now: i64) {
        // Every key expires by itself.
    }
}
