//! Authenticating a request: the bearer token (RFC 6750 §2.1), its issuer, signature and claims,
//! a bounded cache of already verified tokens keyed by the token's SHA-256, and the revocation set
//! (consulted on every request, cache hit or not).

use crate::identity::Identity;
use crate::revocations::RevocationSet;
use axum::http::{HeaderMap, header};
use portcullis_jose::remote_key_set::RemoteKeySet;
use portcullis_jose::{AccessTokenValidation, JoseError, UnverifiedJws, ValidationError, sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No token: 401 without an error code (RFC 6750 §3.1).
    Missing,
    /// A malformed `Authorization` header: 400 `invalid_request`.
    Malformed,
    /// 401 `invalid_token` with this description.
    Invalid(String),
    /// The token, its session or its subject was revoked.
    Revoked,
    /// The issuer's keys were never obtained: 503, not the client's fault.
    KeysUnavailable,
}

/// Validates bearer tokens.
pub struct Authenticator {
    issuers: HashMap<String, Arc<RemoteKeySet>>,
    revocations: Arc<RevocationSet>,
    leeway_secs: i64,
    cache: TokenCache,
}

impl Authenticator {
    /// An authenticator for these issuers.
    pub fn new(
        issuers: Vec<Arc<RemoteKeySet>>,
        revocations: Arc<RevocationSet>,
        leeway_secs: i64,
        cache_entries: usize,
    ) -> Self {
        Authenticator {
            issuers: issuers
                .into_iter()
                .map(|keys| (keys.issuer.clone(), keys))
                .collect(),
            revocations,
            leeway_secs,
            cache: TokenCache::new(cache_entries),
        }
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &Arc<RemoteKeySet>> {
        self.issuers.values()
    }

    /// Authenticates the request's bearer token at `now`.
    ///
    /// # Errors
    /// [`AuthFailure`].
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Arc<Identity>, AuthFailure> {
        let token = bearer_token(headers)?;
        let digest = sha256(token.as_bytes());
        let identity = match self.cache.get(&digest, now) {
            Some(identity) => identity,
            None => {
                let identity = Arc::new(self.verify(token, now).await?);
                self.cache.insert(digest, identity.clone(), now);
                identity
            }
        };
        if self.revocations.is_revoked(&identity) {
            return Err(AuthFailure::Revoked);
        }
        Ok(identity)
    }

    async fn verify(&self, token: &str, now: i64) -> Result<Identity, AuthFailure> {
        let invalid = |reason: &str| AuthFailure::Invalid(reason.to_owned());
        // The unverified `iss` only selects which keys to try; it is verified with the signature.
        let jws =
            UnverifiedJws::parse(token).map_err(|error| AuthFailure::Invalid(error.to_string()))?;
        let issuer = serde_json::from_slice::<serde_json::Value>(jws.unverified_payload())
            .ok()
            .and_then(|claims| {
                claims
                    .get("iss")
                    .and_then(|iss| iss.as_str().map(str::to_owned))
            })
            .ok_or_else(|| invalid("token has no issuer"))?;
        let keys = self
            .issuers
            .get(&issuer)
            .ok_or_else(|| invalid("token issuer is not accepted"))?;
        if !keys.is_loaded() {
            keys.refresh_for_unknown_kid().await;
            if !keys.is_loaded() {
                return Err(AuthFailure::KeysUnavailable);
            }
        }
        let validation = AccessTokenValidation {
            issuer: keys.issuer.clone(),
            audience: keys.audience.clone(),
            leeway_secs: self.leeway_secs,
        };
        let validated = match validation.validate(token, &keys.current(), now) {
            Err(ValidationError::Jose(JoseError::HeaderRejected("unknown kid"))) => {
                // Perhaps a key published since the last fetch (rotation): refetch, rate-limited.
                keys.refresh_for_unknown_kid().await;
                validation.validate(token, &keys.current(), now)
            }
            other => other,
        }
        .map_err(|error| AuthFailure::Invalid(error.to_string()))?;
        Identity::from_claims(&validated.claims)
            .ok_or_else(|| invalid("token claims cannot be forwarded"))
    }
}

/// RFC 6750 §2.1: exactly one `Authorization: Bearer <token>`.
fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthFailure::Missing);
    };
    if values.next().is_some() {
        return Err(AuthFailure::Malformed);
    }
    let value = value.to_str().map_err(|_| AuthFailure::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Missing);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(AuthFailure::Malformed);
    }
    Ok(token)
}

/// Verified tokens by SHA-256, each until its expiry. Bounded: when full, expired entries go, and
/// if none had expired the cache starts over (a flood of distinct valid tokens costs verification,
/// not memory).
struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Arc<Identity>>>,
}

impl TokenCache {
    fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, digest: &[u8; 32], now: i64) -> Option<Arc<Identity>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(digest)
            .filter(|identity| identity.expires_at > now)
            .cloned()
    }

    fn insert(&self, digest: [u8; 32], identity: Arc<Identity>, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, identity| identity.expires_at > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(digest, identity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn bearer_header_parsing() {
        let with = |values: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::AUTHORIZATION, HeaderValue::from_static(value));
            }
            bearer_token(&headers).map(str::to_owned)
        };
        assert_eq!(with(&["Bearer abc"]), Ok("abc".into()));
        assert_eq!(with(&["bearer abc"]), Ok("abc".into()));
        assert_eq!(with(&[]), Err(AuthFailure::Missing));
        assert_eq!(with(&["Basic abc"]), Err(AuthFailure::Missing));
        assert_eq!(with(&["Bearer"]), Err(AuthFailure::Malformed));
        assert_eq!(with(&["Bearer a b"]), Err(AuthFailure::Malformed));
        assert_eq!(with(&["Bearer a", "Bearer b"]), Err(AuthFailure::Malformed));
    }
}
