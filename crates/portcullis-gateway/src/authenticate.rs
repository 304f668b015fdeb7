//! Authenticating a request: the access token (RFC 6750 §2.1, RFC 9449 §7.1), its issuer,
//! signature and claims,
//! a bounded cache of already verified tokens keyed by the token's SHA-256, and the revocation set
//! (consulted on every request, cache hit or not).

use crate::identity::{AssertedIdentity, Identity};
use crate::introspection::Introspector;
use crate::revocations::RevocationSet;
use crate::token_cache::TokenCache;
use axum::http::{HeaderMap, HeaderName};
use portcullis_jose::remote_key_set::RemoteKeySet;
use portcullis_jose::remote_key_set::RemoteValidationError;
use portcullis_jose::{UnverifiedJws, sha256};
use portcullis_sdk::{BearerError, TokenScheme};
use std::collections::HashMap;
use std::sync::Arc;

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
    /// The issuer's introspection endpoint did not answer properly: 503.
    IntrospectionUnavailable,
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
    /// Issuers asked about opaque tokens, longest `token_prefix` first, the one without last.
    introspectors: Vec<Introspector>,
    /// Each issuer's configured audience (this gateway's resource identifier).
    audiences: HashMap<String, String>,
    revocations: Arc<RevocationSet>,
    leeway_secs: i64,
    cache: TokenCache<Arc<AssertedIdentity>>,
    api_key_header: Option<HeaderName>,
}

impl Authenticator {
    /// An authenticator for these issuers, each with the audience its tokens must carry unless
    /// a route names another. The keys check no audience: the routes do
    /// ([`crate::policy::Requirements::check`]), so a token for one route's resource
    /// identifier (RFC 8707) passes that route only.
    pub fn new(
        issuers: Vec<(Arc<RemoteKeySet>, String)>,
        mut introspectors: Vec<(Introspector, String)>,
        revocations: Arc<RevocationSet>,
        leeway_secs: i64,
        cache_entries: usize,
    ) -> Self {
        introspectors.sort_by_key(|(introspector, _)| {
            std::cmp::Reverse(introspector.token_prefix().map(str::len))
        });
        Authenticator {
            audiences: issuers
                .iter()
                .map(|(keys, audience)| (keys.issuer.clone(), audience.clone()))
                .chain(introspectors.iter().map(|(introspector, audience)| {
                    (introspector.issuer.clone(), audience.clone())
                }))
                .collect(),
            issuers: issuers
                .into_iter()
                .map(|(keys, _)| (keys.issuer.clone(), keys))
                .collect(),
            introspectors: introspectors
                .into_iter()
                .map(|(introspector, _)| introspector)
                .collect(),
            revocations,
            leeway_secs,
            cache: TokenCache::new(cache_entries),
            api_key_header: None,
        }
    }

    /// The same authenticator, also taking tokens from `header` (API keys) when a request has
    /// no `Authorization`.
    #[must_use]
    pub fn with_api_key_header(mut self, header: Option<HeaderName>) -> Self {
        self.api_key_header = header;
        self
    }

    /// The header API keys may come in.
    pub fn api_key_header(&self) -> Option<&HeaderName> {
        self.api_key_header.as_ref()
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
        let (scheme, token) = match (presented_token(headers), &self.api_key_header) {
            (Err(AuthFailure::Missing), Some(header)) => {
                (TokenScheme::Bearer, api_key(headers, header)?)
            }
            (presented, _) => presented?,
        };
        let digest = sha256(token.as_bytes());
        let identity = match self.cache.get(&digest, now) {
            Some(identity) => identity,
            // Boxed: a miss's state (a signature check, perhaps a key fetch or an introspection
            // request) would otherwise make every request's future kilobytes larger.
            None => Box::pin(self.identify(token, digest, now)).await?,
        };
        if self.revocations.is_revoked(&identity.identity) {
            return Err(AuthFailure::Revoked);
        }
        Ok((identity, scheme))
    }

    /// The identity of `token`, not in the cache: verified here or introspected, then cached.
    async fn identify(
        &self,
        token: &str,
        digest: [u8; 32],
        now: i64,
    ) -> Result<Arc<AssertedIdentity>, AuthFailure> {
        let (identity, until) = match self.introspector_for(token) {
            Some(introspector) => {
                let introspected = introspector
                    .introspect(token, digest, now, self.leeway_secs)
                    .await?;
                (introspected.identity, introspected.until)
            }
            None => {
                let identity = self.verify(token, now).await?;
                let expires_at = identity.expires_at;
                (identity, expires_at)
            }
        };
        let carries_issuer_audience = self
            .audiences
            .get(&identity.issuer)
            .is_some_and(|audience| identity.audiences.contains(audience));
        let mut asserted = AssertedIdentity::new(identity);
        asserted.carries_issuer_audience = carries_issuer_audience;
        let identity = Arc::new(asserted);
        self.cache.insert(digest, identity.clone(), until, now);
        Ok(identity)
    }

    /// The issuer to ask about `token`: none for a JWT whose `iss` names an issuer of JWTs
    /// (verified here), else the introspecting issuer whose prefix it has.
    fn introspector_for(&self, token: &str) -> Option<&Introspector> {
        if self.introspectors.is_empty() {
            return None;
        }
        // Read from the raw payload, not a parsed JWS: a JWT of a JWT issuer with a header the
        // parser refuses must still never leave the gateway.
        let names_jwt_issuer =
            unverified_issuer(token).is_some_and(|iss| self.issuers.contains_key(&iss));
        if names_jwt_issuer {
            return None;
        }
        self.introspectors
            .iter()
            .find(|introspector| introspector.claims(token))
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

/// The `iss` of a token shaped as a JWS (three dot-separated parts), read without verification.
fn unverified_issuer(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = portcullis_jose::base64url::decode(payload)?;
    let claims: UnverifiedIssuer<'_> = serde_json::from_slice(&bytes).ok()?;
    claims.iss.map(std::borrow::Cow::into_owned)
}

/// RFC 6750 §2.1, RFC 9449 §7.1: exactly one `Authorization: Bearer <token>` or
/// `Authorization: DPoP <token>` (how it is presented is checked by [`crate::dpop`]).
fn presented_token(headers: &HeaderMap) -> Result<(TokenScheme, &str), AuthFailure> {
    portcullis_sdk::access_token(headers).map_err(|error| match error {
        BearerError::Missing => AuthFailure::Missing,
        BearerError::Malformed => AuthFailure::Malformed,
    })
}

/// The API key in `header`: one value of visible ASCII, as a bearer token would be
/// (RFC 6750 §2.1 `b64token`, loosely: no spaces or controls).
fn api_key<'h>(headers: &'h HeaderMap, header: &HeaderName) -> Result<&'h str, AuthFailure> {
    let mut values = headers.get_all(header).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(match headers.contains_key(header) {
            true => AuthFailure::Malformed,
            false => AuthFailure::Missing,
        });
    };
    value
        .to_str()
        .ok()
        .filter(|key| {
            !key.is_empty() && key.len() <= 4096 && key.bytes().all(|byte| byte.is_ascii_graphic())
        })
        .ok_or(AuthFailure::Malformed)
}
