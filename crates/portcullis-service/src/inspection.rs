//! Checking and withdrawing tokens this server issued: access-token validation for userinfo,
//! introspection (RFC 7662), revocation (RFC 7009), id tokens presented as `id_token_hint`, and
//! the revocation feed that gateways follow.

use crate::{AuditLog, KeyManager, Revoker, Store, StoreError, TokenError};
use portcullis_core::personal_access_token::is_personal_access_token;
use portcullis_core::{
    AuditEvent, Client, ClientKind, Clock, IssuedAccessToken, RevocationFeedPage, RevocationKind,
};
use portcullis_jose::{
    AccessTokenValidation, UnverifiedJws, ValidatedToken, ValidationError, sha256,
};
use portcullis_types::OAuthErrorCode;
use serde_json::{Map, Value};

/// The scope a client (a resource server) needs to introspect tokens.
pub const INTROSPECTION_SCOPE: &str = "portcullis:introspect";
/// The scope a client needs to read the revocation feed.
pub const REVOCATION_FEED_SCOPE: &str = "portcullis:revocations";
/// Entries per feed page at most.
const FEED_PAGE_LIMIT: u32 = 1000;

/// What introspection says about a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Introspection {
    /// Not active for this caller (unknown, expired, revoked, or meant for others).
    Inactive,
    /// Active: the members of the RFC 7662 §2.2 answer besides `active`.
    Active(Map<String, Value>),
}

/// Everything token checks need, borrowed from the server's state for one request.
pub struct TokenInspector<'a> {
    /// Refresh tokens and the revocation list.
    pub store: &'a dyn Store,
    /// Verification keys.
    pub keys: &'a KeyManager,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// This server's issuer identifier.
    pub issuer: &'a str,
    /// Revokes what a client asks to revoke.
    pub revoker: Revoker<'a>,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// What personal access tokens may be.
    pub personal_access_tokens: &'a crate::personal_access_tokens::TokenPolicy,
}

/// Whether the revocation list names the `jti`, `sid` or `sub` of a token's `claims` at `now`.
///
/// # Errors
/// Store failures.
pub async fn is_revoked(
    store: &dyn Store,
    claims: &Map<String, Value>,
    now: portcullis_core::UnixSeconds,
) -> Result<bool, StoreError> {
    for (kind, claim) in [
        (RevocationKind::TokenId, "jti"),
        (RevocationKind::Session, "sid"),
        (RevocationKind::Subject, "sub"),
    ] {
        if let Some(value) = claims.get(claim).and_then(Value::as_str)
            && store.is_revoked(kind, value, now).await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

impl TokenInspector<'_> {
    /// Validates one of our access tokens (signature, `typ`, issuer, time, and `audience` if
    /// given).
    ///
    /// # Errors
    /// Why it is not valid.
    pub fn validate_access_token(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<ValidatedToken, ValidationError> {
        self.validate_with_leeway(token, audience, 0)
    }

    /// As [`TokenInspector::validate_access_token`], for endpoints that take bearer tokens only
    /// (userinfo, the admin API): a token bound to a key is refused, since they check no proofs.
    ///
    /// # Errors
    /// Why it is not valid, or [`ValidationError::SenderConstrained`].
    pub fn validate_bearer_token(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<ValidatedToken, ValidationError> {
        let validated = self.validate_access_token(token, audience)?;
        // RFC 9449 §7.2: a bound token is never accepted as a bearer token.
        if validated.claims.contains_key("cnf") {
            return Err(ValidationError::SenderConstrained);
        }
        Ok(validated)
    }

    fn validate_with_leeway(
        &self,
        token: &str,
        audience: Option<&str>,
        leeway_secs: i64,
    ) -> Result<ValidatedToken, ValidationError> {
        let now = self.clock.now();
        AccessTokenValidation {
            issuer: self.issuer.to_owned(),
            audience: audience.map(str::to_owned),
            leeway_secs,
        }
        .validate(token, &self.keys.verification_keys(now), now)
    }

    /// Whether the revocation list names the token's `jti`, `sid` or `sub`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn is_revoked(&self, claims: &Map<String, Value>) -> Result<bool, StoreError> {
        is_revoked(self.store, claims, self.clock.now()).await
    }

    /// The claims of an id token this server signed, if its signature and issuer check out.
    /// Expiry is not checked: OpenID Connect RP-Initiated Logout §2 accepts an expired
    /// `id_token_hint`.
    pub fn id_token_hint_claims(&self, token: &str) -> Option<Map<String, Value>> {
        let keys = self.keys.verification_keys(self.clock.now());
        let payload = UnverifiedJws::parse(token).ok()?.verify(&keys).ok()?;
        let claims: Map<String, Value> = serde_json::from_slice(&payload).ok()?;
        (claims.get("iss").and_then(Value::as_str) == Some(self.issuer)).then_some(claims)
    }

    /// RFC 7662 §2: whether `token` is active for the authenticated `client`.
    ///
    /// # Errors
    /// `invalid_client` for a public client, `unauthorized_client` without the introspection
    /// scope, or a store failure.
    pub async fn introspect(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Introspection, TokenError> {
        // RFC 7662 §2.1: the endpoint requires authorization; a public client cannot provide it.
        if client.kind != ClientKind::Confidential {
            return Err(TokenError::InvalidClient);
        }
        // RFC 7662 §4: not every client may learn about every token.
        if !client.scopes.contains(INTROSPECTION_SCOPE) {
            return Err(TokenError::refused(
                OAuthErrorCode::UnauthorizedClient,
                "client may not introspect tokens (it needs the scope portcullis:introspect)",
            ));
        }
        let now = self.clock.now();
        if is_personal_access_token(token) {
            let answer = crate::personal_access_tokens::introspect(
                self.store,
                self.issuer,
                self.personal_access_tokens,
                client,
                token,
                now,
            )
            .await?;
            return Ok(answer.map_or(Introspection::Inactive, Introspection::Active));
        }
        if let Some(lookup) = self
            .store
            .find_refresh_token(&sha256(token.as_bytes()))
            .await?
        {
            let family = &lookup.family;
            // A refresh token is only ever presented by the client it was issued to.
            let active = family.client_id == client.id
                && lookup.used_at.is_none()
                && family.revoked_at.is_none()
                && now < lookup.record.expires_at
                && now < family.expires_at;
            if !active {
                return Ok(Introspection::Inactive);
            }
            let mut answer = Map::new();
            answer.insert("token_type".into(), "refresh_token".into());
            answer.insert("client_id".into(), family.client_id.clone().into());
            answer.insert("sub".into(), family.user_id.clone().into());
            answer.insert("scope".into(), family.scope.clone().into());
            answer.insert("exp".into(), lookup.record.expires_at.into());
            answer.insert("iat".into(), lookup.record.created_at.into());
            answer.insert("iss".into(), self.issuer.into());
            return Ok(Introspection::Active(answer));
        }
        let Ok(validated) = self.validate_access_token(token, None) else {
            return Ok(Introspection::Inactive);
        };
        // RFC 7662 §4: a token meant for other resources is not active for this one.
        if !is_audience(client, &validated.claims) || self.is_revoked(&validated.claims).await? {
            return Ok(Introspection::Inactive);
        }
        let mut answer = validated.claims;
        // RFC 9449 §6.2: a bound token's type is DPoP; its `cnf` is passed on.
        let token_type = if answer.contains_key("cnf") {
            "DPoP"
        } else {
            "Bearer"
        };
        answer.insert("token_type".into(), token_type.into());
        Ok(Introspection::Active(answer))
    }

    /// RFC 7009 §2.1: revokes a refresh token (its whole family, with its access tokens) or an
    /// access token (its `jti`) of the authenticated `client`. Unknown and invalid tokens are
    /// not an error (§2.2).
    ///
    /// # Errors
    /// `unauthorized_client` for another client's token, or a store failure.
    pub async fn revoke(&self, client: &Client, token: &str) -> Result<(), TokenError> {
        let now = self.clock.now();
        if let Some(lookup) = self
            .store
            .find_refresh_token(&sha256(token.as_bytes()))
            .await?
        {
            if lookup.family.client_id != client.id {
                return Err(not_yours());
            }
            // RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of
            // the same grant.
            self.revoker.revoke_family(&lookup.family.id, now).await?;
            self.audited_revocation(client, "refresh_token");
            return Ok(());
        }
        // A token just past `exp` is still accepted by verifiers within their leeway: it can
        // still be revoked.
        let Ok(validated) = self.validate_with_leeway(token, None, self.revoker.leeway_secs) else {
            return Ok(());
        };
        let claim = |name: &str| validated.claims.get(name);
        if claim("client_id").and_then(Value::as_str) != Some(client.id.as_str()) {
            return Err(not_yours());
        }
        let token = IssuedAccessToken {
            jti: claim("jti")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            expires_at: claim("exp").and_then(Value::as_i64).unwrap_or_default(),
        };
        self.revoker
            .revoke_access_tokens(std::slice::from_ref(&token), now)
            .await?;
        self.audited_revocation(client, "access_token");
        Ok(())
    }

    /// The revocation feed after position `after`, for a client granted the feed's scope.
    ///
    /// # Errors
    /// `invalid_scope` without the scope, or a store failure.
    pub async fn revocation_feed(
        &self,
        client: &Client,
        after: i64,
    ) -> Result<RevocationFeedPage, TokenError> {
        if !client.scopes.contains(REVOCATION_FEED_SCOPE) {
            return Err(TokenError::refused(
                OAuthErrorCode::InvalidScope,
                "client may not read the revocation feed",
            ));
        }
        Ok(self
            .store
            .revocations_after(after, FEED_PAGE_LIMIT, self.clock.now())
            .await?)
    }

    fn audited_revocation(&self, client: &Client, token_type: &str) {
        self.audit.record(&AuditEvent::TokenRevoked {
            client_id: client.id.clone(),
            token_type: token_type.to_owned(),
        });
    }
}

fn not_yours() -> TokenError {
    TokenError::refused(
        OAuthErrorCode::UnauthorizedClient,
        "the token was not issued to this client",
    )
}

/// Whether the introspecting `client` is among the token's audiences: by its client id or one of
/// the resource identifiers registered as its audiences.
fn is_audience(client: &Client, claims: &Map<String, Value>) -> bool {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    audiences.iter().any(|audience| {
        *audience == client.id || client.audiences.iter().any(|own| own == audience)
    })
}
