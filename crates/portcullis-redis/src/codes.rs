//! Authorization codes in Redis (opt-in, `redis_codes`): one hash per code, expiring a day after
//! the code does (so a late replay is still recognised and revokes what the code produced).
//! Redemption is one Lua script: the first `HSETNX redeemed_at` wins, atomically across servers.
//!
//! Trade-off: a Redis without persistence forgets codes when it restarts. A code lives 60 seconds,
//! so the cost is sign-ins in flight at that moment having to start again; the store's own
//! [`CodeStore`] (the default) has no such window.

use crate::RedisLink;
use crate::fields::{Fields, hex};
use async_trait::async_trait;
use portcullis_core::{
    AuthMethods, AuthorizationCodeRecord, CodeRedemption, IssuedAccessToken, UnixSeconds,
};
use portcullis_service::{CodeStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Kept this long after a code expires, for replay detection (as the SQL store does).
const RETENTION_AFTER_EXPIRY_SECS: i64 = 24 * 60 * 60;

/// Stores the fields `ARGV[3..]` and keeps the code until `ARGV[1]` (its expiry, Unix seconds)
/// plus `ARGV[2]` seconds, on the Redis server's clock.
const INSERT: &str = r"
local remaining = tonumber(ARGV[1]) - tonumber(redis.call('TIME')[1])
if remaining < 0 then remaining = 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], remaining + tonumber(ARGV[2]))
return 1
";

/// Marks the code redeemed if it exists; returns `{first_use, field, value, ...}` or nil.
const REDEEM: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local first = redis.call('HSETNX', KEYS[1], 'redeemed_at', ARGV[1])
return {first, redis.call('HGETALL', KEYS[1])}
";

/// Records what a code produced, only if the code still exists.
const RECORD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'access_jti', ARGV[1], 'access_expires_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'family_id', ARGV[3]) end
return 1
";

/// The code store.
#[derive(Debug, Clone)]
pub struct RedisCodeStore {
    link: Arc<RedisLink>,
    prefix: String,
    insert: Arc<redis::Script>,
    redeem: Arc<redis::Script>,
    record: Arc<redis::Script>,
}

impl RedisCodeStore {
    /// Codes under `<prefix>:code:`.
    pub fn new(link: Arc<RedisLink>, prefix: &str) -> Self {
        RedisCodeStore {
            link,
            prefix: format!("{prefix}:code:"),
            insert: Arc::new(redis::Script::new(INSERT)),
            redeem: Arc::new(redis::Script::new(REDEEM)),
            record: Arc::new(redis::Script::new(RECORD)),
        }
    }

    fn key(&self, code_hash: &[u8]) -> String {
        format!("{}{}", self.prefix, hex(code_hash))
    }
}

fn code_fields(code: &AuthorizationCodeRecord) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("client_id", code.client_id.clone()),
        ("redirect_uri", code.redirect_uri.clone()),
        ("scope", code.scope.clone()),
        ("audiences", code.audiences.join(" ")),
        ("user_id", code.user_id.clone()),
        ("sid", code.sid.clone()),
        ("auth_time", code.auth_time.to_string()),
        ("expires_at", code.expires_at.to_string()),
        ("amr", code.amr.to_string()),
    ];
    if let Some(challenge) = &code.code_challenge {
        fields.push(("code_challenge", challenge.clone()));
    }
    if let Some(nonce) = &code.nonce {
        fields.push(("nonce", nonce.clone()));
    }
    fields
}

fn code_from_fields(
    code_hash: &[u8],
    fields: &HashMap<String, String>,
) -> Result<AuthorizationCodeRecord, StoreError> {
    let fields = Fields::new("code", fields);
    Ok(AuthorizationCodeRecord {
        code_hash: code_hash.to_vec(),
        client_id: fields.text("client_id")?,
        redirect_uri: fields.text("redirect_uri")?,
        code_challenge: fields.optional("code_challenge"),
        nonce: fields.optional("nonce"),
        scope: fields.text("scope")?,
        audiences: fields
            .text("audiences")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        user_id: fields.text("user_id")?,
        sid: fields.text("sid")?,
        auth_time: fields.number("auth_time")?,
        amr: AuthMethods::parse(&fields.optional("amr").unwrap_or_default()),
        expires_at: fields.number("expires_at")?,
    })
}

#[async_trait]
impl CodeStore for RedisCodeStore {
    async fn insert_code(&self, code: &AuthorizationCodeRecord) -> Result<(), StoreError> {
        let mut connection = self.link.store_connection().await?;
        let mut invocation = self.insert.key(self.key(&code.code_hash));
        invocation
            .arg(code.expires_at)
            .arg(RETENTION_AFTER_EXPIRY_SECS);
        for (name, value) in code_fields(code) {
            invocation.arg(name).arg(value);
        }
        invocation
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|error| self.link.store_failure(&error))
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<CodeRedemption, StoreError> {
        let mut connection = self.link.store_connection().await?;
        let reply: Option<(i64, HashMap<String, String>)> = self
            .redeem
            .key(self.key(code_hash))
            .arg(now)
            .invoke_async(&mut connection)
            .await
            .map_err(|error| self.link.store_failure(&error))?;
        let Some((first_use, fields)) = reply else {
            return Ok(CodeRedemption::Unknown);
        };
        let record = code_from_fields(code_hash, &fields)?;
        if first_use == 1 {
            return Ok(CodeRedemption::Fresh(record));
        }
        let access_token = fields
            .get("access_jti")
            .cloned()
            .zip(
                fields
                    .get("access_expires_at")
                    .and_then(|at| at.parse().ok()),
            )
            .map(|(jti, expires_at)| IssuedAccessToken { jti, expires_at });
        Ok(CodeRedemption::Replayed {
            record,
            family_id: fields.get("family_id").cloned(),
            access_token,
        })
    }

    async fn record_code_tokens(
        &self,
        code_hash: &[u8],
        family_id: Option<&str>,
        access_token: &IssuedAccessToken,
    ) -> Result<(), StoreError> {
        let mut connection = self.link.store_connection().await?;
        self.record
            .key(self.key(code_hash))
            .arg(&access_token.jti)
            .arg(access_token.expires_at)
            .arg(family_id.unwrap_or(""))
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|error| self.link.store_failure(&error))
    }
}
