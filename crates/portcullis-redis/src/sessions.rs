//! Browser sessions in Redis (opt-in, `redis_sessions`): one hash per session under the hash of
//! its cookie secret, an index from `sid` to it, and a sorted set of every `sid` by its absolute
//! end (for listing and purging without scanning the keyspace). The first two expire with the
//! session's absolute end; idle sessions are removed by the housekeeping purge (and refused before
//! that by the idle check every lookup makes).
//!
//! Every key carries the hash tag `{sessions}`, so in a Redis Cluster they all live in one slot
//! and each script below stays atomic.
//!
//! Unlike the database, Redis does not delete a user's sessions with the user; the auth server
//! treats a session whose user is gone or disabled as signed out, so this changes nothing visible.

use crate::RedisLink;
use crate::fields::{Fields, hex, unhex};
use async_trait::async_trait;
use portcullis_core::{AuthMethods, Session, UnixSeconds};
use portcullis_service::{SessionSearch, SessionStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Kept this long past the absolute end at most (purge and the liveness check act first).
const GRACE_SECS: i64 = 60;

/// Stores the session `KEYS[1]` with fields `ARGV[5..]` and its index `KEYS[2]` → `ARGV[3]`, both
/// until `ARGV[1]` (Unix seconds, on the server's clock) plus `ARGV[2]`, and adds its sid `ARGV[4]`
/// to the set `KEYS[3]` scored by that same end; sids whose keys have expired leave the set.
const CREATE: &str = r"
local now = tonumber(redis.call('TIME')[1])
local remaining = tonumber(ARGV[1]) - now
if remaining < 0 then remaining = 0 end
local ttl = remaining + tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[2], ARGV[3], 'EX', ttl)
redis.call('ZADD', KEYS[3], now + ttl, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. now)
return 1
";

/// Records activity on an existing session.
const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1])
return 1
";

/// Deletes the session named by the index `KEYS[1]` and its sid `ARGV[2]` from the set `KEYS[2]`;
/// returns `{hash, fields}` or nil. The session's own key `ARGV[1] .. hash` shares their slot.
const DELETE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[2])
local hash = redis.call('GET', KEYS[1])
if not hash then return false end
local key = ARGV[1] .. hash
local fields = redis.call('HGETALL', key)
redis.call('DEL', key, KEYS[1])
if #fields == 0 then return false end
return {hash, fields}
";

/// The sessions of the set `KEYS[1]` from rank `ARGV[3]` to `ARGV[4]`, as `{found, stale}`: the
/// `{hash, fields}` pairs of live sessions, and the sids whose session is gone. `ARGV[1]` and
/// `ARGV[2]` are the index and session key prefixes. Called in bounded pages, so no single call
/// holds Redis (and every gateway's rate limits) for long.
const LIST_PAGE: &str = r"
local found, stale = {}, {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], ARGV[3], ARGV[4])) do
  local hash = redis.call('GET', ARGV[1] .. sid)
  local fields = {}
  if hash then fields = redis.call('HGETALL', ARGV[2] .. hash) end
  if #fields == 0 then
    table.insert(stale, sid)
  else
    table.insert(found, {hash, fields})
  end
end
return {found, stale}
";

/// Sessions read per [`LIST_PAGE`] call.
const PAGE: usize = 500;

/// The session store.
#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    link: Arc<RedisLink>,
    sessions: String,
    sids: String,
    index: String,
    create: Arc<redis::Script>,
    touch: Arc<redis::Script>,
    delete: Arc<redis::Script>,
    list: Arc<redis::Script>,
}

impl RedisSessionStore {
    /// Sessions under `<prefix>:{sessions}:`.
    pub fn new(link: Arc<RedisLink>, prefix: &str) -> Self {
        RedisSessionStore {
            link,
            sessions: format!("{prefix}:{{sessions}}:session:"),
            sids: format!("{prefix}:{{sessions}}:sid:"),
            index: format!("{prefix}:{{sessions}}:index"),
            create: Arc::new(redis::Script::new(CREATE)),
            touch: Arc::new(redis::Script::new(TOUCH)),
            delete: Arc::new(redis::Script::new(DELETE)),
            list: Arc::new(redis::Script::new(LIST_PAGE)),
        }
    }

    /// Every session, as stored (a page at a time; sessions created meanwhile may be missed),
    /// dropping the sids of sessions that are gone from the listing set.
    async fn all(&self) -> Result<Vec<Session>, StoreError> {
        type Page = (Vec<(String, HashMap<String, String>)>, Vec<String>);
        let mut connection = self.link.store_connection().await?;
        let (mut sessions, mut stale) = (Vec::new(), Vec::new());
        for start in (0..).step_by(PAGE) {
            let (found, gone): Page = self
                .list
                .key(&self.index)
                .arg(&self.sids)
                .arg(&self.sessions)
                .arg(start)
                .arg(start + PAGE - 1)
                .invoke_async(&mut connection)
                .await
                .map_err(|error| self.link.store_failure(&error))?;
            let read = found.len() + gone.len();
            for pair in found {
                sessions.push(stored_session(pair)?);
            }
            stale.extend(gone);
            if read < PAGE {
                break;
            }
        }
        if !stale.is_empty() {
            redis::cmd("ZREM")
                .arg(&self.index)
                .arg(stale)
                .query_async::<i64>(&mut connection)
                .await
                .map_err(|error| self.link.store_failure(&error))?;
        }
        Ok(sessions)
    }
}

/// A session as a script returns it: the hex hash of its secret and its fields.
fn stored_session(
    (hash, fields): (String, HashMap<String, String>),
) -> Result<Session, StoreError> {
    let secret_hash =
        unhex(&hash).ok_or_else(|| StoreError::Corrupt("session index".to_owned()))?;
    session_from_fields(secret_hash, &fields)
}

fn session_from_fields(
    secret_hash: Vec<u8>,
    fields: &HashMap<String, String>,
) -> Result<Session, StoreError> {
    let fields = Fields::new("session", fields);
    Ok(Session {
        secret_hash,
        sid: fields.text("sid")?,
        user_id: fields.text("user_id")?,
        auth_time: fields.number("auth_time")?,
        created_at: fields.number("created_at")?,
        last_seen_at: fields.number("last_seen_at")?,
        expires_at: fields.number("expires_at")?,
        amr: AuthMethods::parse(&fields.optional("amr").unwrap_or_default()),
        identity_provider: fields.optional("identity_provider"),
    })
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        let hash = hex(&session.secret_hash);
        let mut connection = self.link.store_connection().await?;
        let mut invocation = self.create.key(format!("{}{hash}", self.sessions));
        invocation
            .key(format!("{}{}", self.sids, session.sid))
            .key(&self.index)
            .arg(session.expires_at)
            .arg(GRACE_SECS)
            .arg(&hash)
            .arg(&session.sid);
        let provider = session
            .identity_provider
            .as_ref()
            .map(|provider| ("identity_provider", provider.clone()));
        for (name, value) in [
            ("sid", session.sid.clone()),
            ("user_id", session.user_id.clone()),
            ("auth_time", session.auth_time.to_string()),
            ("created_at", session.created_at.to_string()),
            ("last_seen_at", session.last_seen_at.to_string()),
            ("expires_at", session.expires_at.to_string()),
            ("amr", session.amr.to_string()),
        ]
        .into_iter()
        .chain(provider)
        {
            invocation.arg(name).arg(value);
        }
        invocation
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|error| self.link.store_failure(&error))
    }

    async fn find_session(&self, secret_hash: &[u8]) -> Result<Option<Session>, StoreError> {
        let mut connection = self.link.store_connection().await?;
        let fields: HashMap<String, String> = redis::cmd("HGETALL")
            .arg(format!("{}{}", self.sessions, hex(secret_hash)))
            .query_async(&mut connection)
            .await
            .map_err(|error| self.link.store_failure(&error))?;
        if fields.is_empty() {
            return Ok(None);
        }
        session_from_fields(secret_hash.to_vec(), &fields).map(Some)
    }

    async fn touch_session(&self, secret_hash: &[u8], now: UnixSeconds) -> Result<(), StoreError> {
        let mut connection = self.link.store_connection().await?;
        self.touch
            .key(format!("{}{}", self.sessions, hex(secret_hash)))
            .arg(now)
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|error| self.link.store_failure(&error))
    }

    async fn delete_session(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        let mut connection = self.link.store_connection().await?;
        let deleted: Option<(String, HashMap<String, String>)> = self
            .delete
            .key(format!("{}{sid}", self.sids))
            .key(&self.index)
            .arg(&self.sessions)
            .arg(sid)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.link.store_failure(&error))?;
        deleted.map(stored_session).transpose()
    }

    async fn list_sessions(&self) -> Result<Vec<Session>, StoreError> {
        let mut sessions = self.all().await?;
        sessions.sort_by_key(|session| std::cmp::Reverse(session.created_at));
        Ok(sessions)
    }

    async fn list_sessions_of_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let mut sessions = self.list_sessions().await?;
        sessions.retain(|session| session.user_id == user_id);
        Ok(sessions)
    }

    /// Filtered and paged from the whole set, as [`SessionStore::list_sessions`] reads it: sessions
    /// live at most their absolute lifetime, so the set stays as small as the live sessions.
    async fn search_sessions(&self, search: &SessionSearch) -> Result<Vec<Session>, StoreError> {
        let mut sessions = self.all().await?;
        sessions.retain(|session| {
            search
                .user_id
                .as_ref()
                .is_none_or(|user_id| session.user_id == *user_id)
                && search.before.as_ref().is_none_or(|(created_at, sid)| {
                    (session.created_at, &session.sid) < (*created_at, sid)
                })
        });
        sessions.sort_by(|a, b| (b.created_at, &b.sid).cmp(&(a.created_at, &a.sid)));
        sessions.truncate(search.limit as usize);
        Ok(sessions)
    }

    async fn purge_sessions(&self, now: UnixSeconds, idle_secs: i64) -> Result<u64, StoreError> {
        let mut purged = 0;
        for session in self.all().await? {
            if session.expires_at <= now || session.last_seen_at + idle_secs <= now {
                purged += u64::from(self.delete_session(&session.sid).await?.is_some());
            }
        }
        Ok(purged)
    }
}
