//! Personal access tokens of users and API keys of service accounts: making them (scopes no wider
//! than the owner's), listing and revoking them (a revocation goes on the revocation list, so
//! every gateway refuses the token within its feed interval, at once over Redis), and answering
//! resource servers about them by introspection (RFC 7662).

use crate::roles::scope_for_user;
use crate::{AuditLog, Revoker, Store, StoreError};
use portcullis_core::personal_access_token::{
    NETWORKS_MEMBER, PersonalAccessToken, TokenOwner, TokenRequest, TokenRequestError,
    is_personal_access_token,
};
use portcullis_core::{
    AuditEvent, Client, ClientKind, Clock, RevocationKind, ScopeSet, SecretHash, UnixSeconds,
};
use serde_json::{Map, Value};

/// Tokens one owner may hold at most.
pub const MAX_TOKENS_PER_OWNER: usize = 50;
/// The last use is written at most this often per token (introspection answers are cached by
/// resource servers anyway).
const LAST_USE_GRANULARITY_SECS: i64 = 60;

/// What the deployment allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenPolicy {
    /// Users may make tokens (service accounts' keys are made by administrators whatever this
    /// says).
    pub enabled: bool,
    /// The scopes a user's token may carry (beside the owner's roles allowing them).
    pub user_scopes: ScopeSet,
    /// The longest lifetime, in days.
    pub max_lifetime_days: i64,
    /// The audiences of every token (the resource servers that accept them).
    pub audiences: Vec<String>,
}

/// Why a token cannot be made, listed or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    /// Users may not make tokens here.
    #[error("personal access tokens are not enabled")]
    Disabled,
    /// The owner does not exist, is disabled, or (a client) is not a confidential client.
    #[error("no such owner for a token")]
    NoOwner,
    /// No audience is configured: a token would be accepted nowhere.
    #[error("personal_access_tokens.audiences is empty: a token would be accepted nowhere")]
    NoAudience,
    /// The owner holds [`MAX_TOKENS_PER_OWNER`] tokens already.
    #[error("at most {MAX_TOKENS_PER_OWNER} tokens per owner; revoke one first")]
    TooMany,
    /// The request breaks a rule.
    #[error(transparent)]
    Request(#[from] TokenRequestError),
    /// The system random generator failed.
    #[error("no randomness available")]
    Random,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The use cases of personal access tokens.
pub struct PersonalAccessTokens<'a> {
    /// Tokens, users, clients and roles.
    pub store: &'a dyn Store,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Puts revoked tokens on the revocation list.
    pub revoker: Revoker<'a>,
    /// What is allowed.
    pub policy: &'a TokenPolicy,
}

impl PersonalAccessTokens<'_> {
    /// The scopes `owner` may give a token, if it may have tokens at all.
    async fn allowed_scope(
        &self,
        owner: &TokenOwner,
        requested: &ScopeSet,
    ) -> Result<ScopeSet, TokenKeyError> {
        match owner {
            TokenOwner::User(id) => {
                if !self.policy.enabled {
                    return Err(TokenKeyError::Disabled);
                }
                let user = self
                    .store
                    .find_user_by_id(id)
                    .await?
                    .filter(|user| user.disabled_at.is_none())
                    .ok_or(TokenKeyError::NoOwner)?;
                let offered = requested.filtered(|scope| self.policy.user_scopes.contains(scope));
                Ok(scope_for_user(self.store, &user, &offered).await?)
            }
            TokenOwner::Client(id) => {
                let client = self
                    .store
                    .find_client(id)
                    .await?
                    .filter(|client| client.kind == ClientKind::Confidential)
                    .ok_or(TokenKeyError::NoOwner)?;
                Ok(key_scope(&client.scopes))
            }
        }
    }

    /// Makes a token for `owner`, by `by` (`owner` or an administrator's label): the record
    /// and the token, to be shown once.
    ///
    /// # Errors
    /// [`TokenKeyError`].
    pub async fn create(
        &self,
        owner: TokenOwner,
        request: TokenRequest,
        by: &str,
    ) -> Result<(PersonalAccessToken, String), TokenKeyError> {
        if self.policy.audiences.is_empty() {
            return Err(TokenKeyError::NoAudience);
        }
        let allowed = self.allowed_scope(&owner, &request.scope).await?;
        request.check(&allowed, self.policy.max_lifetime_days.max(1))?;
        if self.store.personal_access_tokens_of(&owner).await?.len() >= MAX_TOKENS_PER_OWNER {
            return Err(TokenKeyError::TooMany);
        }
        let (record, token) = request
            .issue(owner, self.clock.now())
            .map_err(|_| TokenKeyError::Random)?;
        self.store.add_personal_access_token(&record).await?;
        self.audit.record(&AuditEvent::PersonalAccessTokenChanged {
            owner: record.owner.id().to_owned(),
            token_id: record.id.clone(),
            change: "created".into(),
            scope: Some(record.scope.to_string()),
            by: by.to_owned(),
        });
        Ok((record, token))
    }

    /// The owner's tokens, newest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list(&self, owner: &TokenOwner) -> Result<Vec<PersonalAccessToken>, StoreError> {
        self.store.personal_access_tokens_of(owner).await
    }

    /// Revokes one of the owner's tokens: deleted, and its id put on the revocation list until
    /// it would have expired, so gateways that cached it refuse it too. `false`: no such token.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke(&self, owner: &TokenOwner, id: &str, by: &str) -> Result<bool, StoreError> {
        let Some(token) = self
            .store
            .personal_access_tokens_of(owner)
            .await?
            .into_iter()
            .find(|token| token.id == id)
        else {
            return Ok(false);
        };
        // On the revocation list first: a failure leaves the token there to revoke again.
        let now = self.clock.now();
        self.revoker
            .add(RevocationKind::TokenId, &token.id, token.expires_at, now)
            .await?;
        if self
            .store
            .delete_personal_access_token(owner, id)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        self.audit.record(&AuditEvent::PersonalAccessTokenChanged {
            owner: token.owner.id().to_owned(),
            token_id: token.id,
            change: "revoked".into(),
            scope: None,
            by: by.to_owned(),
        });
        Ok(true)
    }
}

/// The scopes a service account's key may carry: its client's, but never the server's own
/// (`portcullis:*`), which only this server's JWTs convey.
fn key_scope(client_scopes: &ScopeSet) -> ScopeSet {
    client_scopes.filtered(|scope| !scope.starts_with("portcullis:"))
}

/// RFC 7662 §2.2: the answer about `token` at `now` for the introspecting `client`, if it is a
/// live personal access token whose owner is still there and among whose audiences the client
/// is, as `issuer` under `policy`. The scope is what the token was given and its owner may
/// still give it (roles change, the configuration changes). `None`: inactive.
///
/// # Errors
/// Store failures.
pub async fn introspect(
    store: &dyn Store,
    issuer: &str,
    policy: &TokenPolicy,
    client: &Client,
    token: &str,
    now: UnixSeconds,
) -> Result<Option<Map<String, Value>>, StoreError> {
    if !is_personal_access_token(token) {
        return Ok(None);
    }
    // RFC 7662 §4: active only for the resource servers it is meant for.
    let audience_of = |client: &Client| {
        policy
            .audiences
            .iter()
            .any(|audience| *audience == client.id || client.audiences.contains(audience))
    };
    if !audience_of(client) {
        return Ok(None);
    }
    let Some(record) = store
        .find_personal_access_token(&SecretHash::of(token))
        .await?
    else {
        return Ok(None);
    };
    if now >= record.expires_at {
        return Ok(None);
    }
    let (username, client_id, scope) = match &record.owner {
        TokenOwner::User(id) => match store.find_user_by_id(id).await? {
            Some(user) if user.disabled_at.is_none() && policy.enabled => {
                let offered = record
                    .scope
                    .filtered(|scope| policy.user_scopes.contains(scope));
                let scope = scope_for_user(store, &user, &offered).await?;
                // A user's token is the party presenting it.
                (
                    Some(user.username.as_str().to_owned()),
                    record.id.clone(),
                    scope,
                )
            }
            _ => return Ok(None),
        },
        TokenOwner::Client(id) => match store.find_client(id).await? {
            Some(owner) => {
                let allowed = key_scope(&owner.scopes);
                let scope = record.scope.filtered(|scope| allowed.contains(scope));
                (None, owner.id, scope)
            }
            None => return Ok(None),
        },
    };
    if scope.is_empty() {
        return Ok(None);
    }
    if record
        .last_used_at
        .is_none_or(|last| now - last >= LAST_USE_GRANULARITY_SECS)
    {
        // Best effort: a lost write of the last use must not refuse the token.
        if let Err(error) = store
            .record_personal_access_token_use(&record.id, now)
            .await
        {
            tracing::warn!(%error, "the last use of a personal access token was not recorded");
        }
    }
    let mut answer = Map::new();
    answer.insert("active".into(), true.into());
    answer.insert("iss".into(), issuer.into());
    answer.insert("sub".into(), record.owner.id().into());
    answer.insert("client_id".into(), client_id.into());
    answer.insert("jti".into(), record.id.into());
    answer.insert("scope".into(), scope.to_string().into());
    answer.insert("aud".into(), policy.audiences.clone().into());
    answer.insert("iat".into(), record.created_at.into());
    answer.insert("exp".into(), record.expires_at.into());
    answer.insert("token_type".into(), "Bearer".into());
    if let Some(username) = username {
        answer.insert("username".into(), username.into());
    }
    if !record.networks.is_empty() {
        answer.insert(NETWORKS_MEMBER.into(), record.networks.into());
    }
    Ok(Some(answer))
}
