//! Authenticating a request: the access token (RFC 6750 §2.1, RFC 9449 §7.1), its issuer,
//! signature and claims,
//! a bounded cache of already verified tokens keyed by the token's SHA-256, and the revocation set
//! (consulted on every request, cache hit or not).

use crate::identity::{AssertedIdentity, Identity};
use crate::revocations::RevocationSet;
use axum::http::HeaderMap;
use portcullis_jose::remote_key_set::RemoteKeySet;
use portcullis_jose::remote_key_set::RemoteValidationError;
use portcullis_jose::{UnverifiedJws, sha256};
use portcullis_sdk::{BearerError, TokenScheme};
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
    /// The token was presented the wrong way for its binding (RFC 9449 §7.1, §7.2): a bound
    /// token as a bearer token, an unbound one as DPoP, or a bearer token where the route wants
    /// DPoP. 401 `invalid_token` with a DPoP challenge.
    DpopRequired(String),
    /// The DPoP proof is missing, invalid, for another key or request, or replayed: 401
    /// `invalid_dpop_proof` (RFC 9449 §7.1).
    InvalidDpopProof(String),
    /// RFC 9449 §9: the proof must carry the gateway's nonce; this one.
    UseDpopNonce(String),
}

/// Validates bearer tokens.
pub struct Authenticator {
    issuers: HashMap<String, Arc<RemoteKeySet>>,
    /// Each issuer's configured audience (this gateway's resource identifier).
    audiences: HashMap<String, String>,
    revocations: Arc<RevocationSet>,
    leeway_secs: i64,
    cache: TokenCache,
}

impl Authenticator {
    /// An authenticator for these issuers, each with the audience its tokens must carry unless
    /// a route names another. The keys check no audience: the routes do
    /// ([`crate::policy::Requirements::check`]), so a token for one route's resource
    /// identifier (RFC 8707) passes that route only.
    pub fn new(
        issuers: Vec<(Arc<RemoteKeySet>, String)>,
        revocations: Arc<RevocationSet>,
        leeway_secs: i64,
        cache_entries: usize,
    ) -> Self {
        Authenticator {
            audiences: issuers
                .iter()
                .map(|(keys, audience)| (keys.issuer.clone(), audience.clone()))
                .collect(),
            issuers: issuers
                .into_iter()
                .map(|(keys, _)| (keys.issuer.clone(), keys))
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

    /// Authenticates the request's access token at `now`; returns its identity and how it was
    /// presented (the binding is checked by [`crate::dpop`]).
    ///
    /// # Errors
    /// [`AuthFailure`].
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<(Arc<AssertedIdentity>, TokenScheme), AuthFailure> {
        let (scheme, token) = presented_token(headers)?;
        let digest = sha256(token.as_bytes());
        let identity = match self.cache.get(&digest, now) {
            Some(identity) => identity,
            None => {
                let identity = self.verify(token, now).await?;
                let carries_issuer_audience = self
                    .audiences
                    .get(&identity.issuer)
                    .is_some_and(|audience| identity.audiences.contains(audience));
                let mut asserted = AssertedIdentity::new(identity);
                asserted.carries_issuer_audience = carries_issuer_audience;
                let identity = Arc::new(asserted);
                self.cache.insert(digest, identity.clone(), now);
                identity
            }
        };
        if self.revocations.is_revoked(&identity.identity) {
            return Err(AuthFailure::Revoked);
        }
        Ok((identity, scheme))
    }

    async fn verify(&self, token: &str, now: i64) -> Result<Identity, AuthFailure> {
        let invalid = |reason: &str| AuthFailure::Invalid(reason.to_owned());
        // Decoded once: the unverified `iss` only selects which keys to try; it is verified with
        // the signature.
        let jws =
            UnverifiedJws::parse(token).map_err(|error| AuthFailure::Invalid(error.to_string()))?;
        let issuer = serde_json::from_slice::<UnverifiedIssuer<'_>>(jws.unverified_payload())
            .map_err(|_| invalid("token claims are malformed"))?
            .iss
            .ok_or_else(|| invalid("token has no issuer"))?;
        let keys = self
            .issuers
            .get(issuer.as_ref())
            .ok_or_else(|| invalid("token issuer is not accepted"))?;
        let validated = keys
            .validate_parsed(&jws, self.leeway_secs, now)
            .await
            .map_err(|error| match error {
                RemoteValidationError::KeysUnavailable => AuthFailure::KeysUnavailable,
                RemoteValidationError::Invalid(error) => AuthFailure::Invalid(error.to_string()),
            })?;
        Identity::from_claims(&validated.claims)
            .ok_or_else(|| invalid("token claims cannot be forwarded"))
    }
}

/// The one claim read before the signature is checked, borrowed where the JSON has no escapes.
#[derive(serde::Deserialize)]
struct UnverifiedIssuer<'a> {
    #[serde(borrow)]
    iss: Option<std::borrow::Cow<'a, str>>,
}

/// RFC 6750 §2.1, RFC 9449 §7.1: exactly one `Authorization: Bearer <token>` or
/// `Authorization: DPoP <token>` (how it is presented is checked by [`crate::dpop`]).
fn presented_token(headers: &HeaderMap) -> Result<(TokenScheme, &str), AuthFailure> {
    portcullis_sdk::access_token(headers).map_err(|error| match error {
        BearerError::Missing => AuthFailure::Missing,
        BearerError::Malformed => AuthFailure::Malformed,
    })
}

/// Verified tokens by SHA-256, each until its expiry. Bounded: when full, expired entries go, and
/// if none had expired the cache starts over (a flood of distinct valid tokens costs verification,
/// not memory).
struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Arc<AssertedIdentity>>>,
}

impl TokenCache {
    fn new(capacity: usize) -> Self {
        TokenCache {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, digest: &[u8; 32], now: i64) -> Option<Arc<AssertedIdentity>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(digest)
            .filter(|asserted| asserted.identity.expires_at > now)
            .cloned()
    }

    fn insert(&self, digest: [u8; 32], identity: Arc<AssertedIdentity>, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, asserted| asserted.identity.expires_at > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(digest, identity);
    }
}
