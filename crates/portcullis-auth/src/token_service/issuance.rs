//! Minting tokens: RFC 9068 access tokens, OpenID Connect id tokens and refresh token families.
//! Every grant (and `POST /login`) ends here, so every issued token is audited and counted once.

use crate::error::OAuthError;
use crate::state::AppState;
use portcullis_core::grant::AccessGrant;
use portcullis_core::id_token::{IdTokenClaims, profile_claims};
use portcullis_core::{
    AccessTokenClaims, AuditEvent, Client, IssuedAccessToken, RefreshTokenFamily,
    RefreshTokenRecord, ScopeSet, User, generate_secret,
};
use portcullis_jose::{Algorithm, sha256, sign_compact, token_hash_claim};
use portcullis_types::{GrantType, OAuthErrorCode, TokenResponse};

/// Bytes of randomness in a `jti`.
const JTI_BYTES: usize = 16;
/// Bytes of randomness in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;

pub(crate) fn internal(what: &str) -> OAuthError {
    tracing::error!(what, "cannot issue token");
    OAuthError::new(OAuthErrorCode::ServerError, "internal error")
}

/// A signed access token with its claims.
pub(crate) struct SignedAccessToken {
    pub token: String,
    pub claims: AccessTokenClaims,
}

impl SignedAccessToken {
    /// The token as a grant records it, to revoke it with the grant.
    pub fn issued(&self) -> IssuedAccessToken {
        issued(&self.claims)
    }
}

/// Access token `claims` as a grant records them.
pub(crate) fn issued(claims: &AccessTokenClaims) -> IssuedAccessToken {
    IssuedAccessToken {
        jti: claims.jti.clone(),
        expires_at: claims.exp,
    }
}

/// Signs an access token for `grant`, audited and counted under its grant type.
pub(crate) fn access_token(
    state: &AppState,
    grant: &AccessGrant,
) -> Result<SignedAccessToken, OAuthError> {
    access_token_via(state, grant, grant.grant_type.as_str())
}

/// Signs an access token for `grant`, audited and counted under `via` (how it was obtained).
pub(crate) fn access_token_via(
    state: &AppState,
    grant: &AccessGrant,
    via: &str,
) -> Result<SignedAccessToken, OAuthError> {
    sign_access_token(state, access_token_claims(state, grant)?, via)
}

/// The claims of a new access token for `grant`, with a fresh `jti`: what a grant records before
/// the token is signed (a refresh rotation stores the `jti` in the same transaction).
pub(crate) fn access_token_claims(
    state: &AppState,
    grant: &AccessGrant,
) -> Result<AccessTokenClaims, OAuthError> {
    let jti = generate_secret(JTI_BYTES).map_err(|_| internal("random generator"))?;
    Ok(AccessTokenClaims::new(
        grant,
        &state.settings.token_policy,
        state.clock.now(),
        jti,
    ))
}

/// Signs access token `claims`, audited and counted under `via`.
pub(crate) fn sign_access_token(
    state: &AppState,
    claims: AccessTokenClaims,
    via: &str,
) -> Result<SignedAccessToken, OAuthError> {
    let signer = state
        .keys
        .signer(state.settings.access_token_algorithm, state.clock.now())
        .ok_or_else(|| internal("no active access token signing key"))?;
    let payload = serde_json::to_vec(&claims).map_err(|_| internal("claims serialization"))?;
    // RFC 9068 §2.1: access tokens carry `typ: at+jwt`.
    let token = sign_compact(&payload, "at+jwt", &signer).map_err(|_| internal("signing"))?;
    state.audit.record(&AuditEvent::TokenIssued {
        grant_type: via.to_owned(),
        client_id: claims.client_id.clone(),
        subject: claims.sub.clone(),
        jti: claims.jti.clone(),
        scope: claims.scope.clone(),
        audience: claims.aud.clone(),
    });
    state.metrics.token_issued(via);
    Ok(SignedAccessToken { token, claims })
}

/// What an id token needs beyond the user.
pub(crate) struct IdTokenContext<'a> {
    pub client: &'a Client,
    pub scope: &'a ScopeSet,
    pub sid: &'a str,
    pub auth_time: i64,
    pub nonce: Option<String>,
    pub access_token: &'a str,
}

/// An id token when the grant includes `openid` (OpenID Connect Core §3.1.3.3), else none.
pub(crate) fn id_token_if_openid(
    state: &AppState,
    user: &User,
    context: IdTokenContext<'_>,
) -> Result<Option<String>, OAuthError> {
    if context.scope.contains("openid") {
        id_token(state, user, context).map(Some)
    } else {
        Ok(None)
    }
}

/// Signs an id token with the client's id token algorithm (OpenID Connect Core §3.1.3.6, §3.1.3.7).
fn id_token(
    state: &AppState,
    user: &User,
    context: IdTokenContext<'_>,
) -> Result<String, OAuthError> {
    let now = state.clock.now();
    let alg: Algorithm = context.client.id_token_algorithm();
    let signer = state
        .keys
        .signer(alg, now)
        .ok_or_else(|| internal("no active id token signing key"))?;
    let claims = IdTokenClaims {
        iss: state.settings.issuer().to_owned(),
        sub: user.id.clone(),
        aud: context.client.id.clone(),
        exp: now
            + state
                .settings
                .token_policy
                .access_token_lifetime(context.client),
        iat: now,
        auth_time: context.auth_time,
        nonce: context.nonce,
        at_hash: Some(token_hash_claim(alg, context.access_token)),
        sid: context.sid.to_owned(),
        profile: profile_claims(user, context.scope),
    };
    let payload = serde_json::to_vec(&claims).map_err(|_| internal("id token serialization"))?;
    sign_compact(&payload, "JWT", &signer).map_err(|_| internal("id token signing"))
}

/// Whether a grant gets a refresh token: the client may use the refresh grant, and the user asked
/// for `offline_access` or the client is first-party.
pub(crate) fn wants_refresh_token(client: &Client, scope: &ScopeSet) -> bool {
    client.allows_grant(GrantType::RefreshToken)
        && (scope.contains("offline_access") || client.first_party)
}

/// A new refresh token value and its hash.
pub(crate) fn new_refresh_token() -> Result<(String, Vec<u8>), OAuthError> {
    let token = generate_secret(REFRESH_TOKEN_BYTES).map_err(|_| internal("random generator"))?;
    let hash = sha256(token.as_bytes()).to_vec();
    Ok((token, hash))
}

/// Starts a refresh token family for a user grant; returns the token and the family id.
pub(crate) async fn start_refresh_family(
    state: &AppState,
    grant: &AccessGrant,
    user_id: &str,
    access: &SignedAccessToken,
) -> Result<(String, String), OAuthError> {
    let now = state.clock.now();
    let settings = &state.settings.sign_in;
    let context = grant
        .user
        .as_ref()
        .ok_or_else(|| internal("refresh token without a user"))?;
    let family_id = generate_secret(16).map_err(|_| internal("random generator"))?;
    let (token, hash) = new_refresh_token()?;
    let family = RefreshTokenFamily {
        id: family_id.clone(),
        client_id: grant.client_id.clone(),
        user_id: user_id.to_owned(),
        sid: context.sid.clone(),
        scope: grant.scope.to_string(),
        audiences: grant.audiences.clone(),
        auth_time: context.auth_time,
        created_at: now,
        expires_at: now + settings.refresh_token_absolute_secs,
        revoked_at: None,
    };
    let first = RefreshTokenRecord {
        token_hash: hash,
        family_id: family_id.clone(),
        created_at: now,
        expires_at: now + settings.refresh_token_sliding_secs,
    };
    state
        .store
        .create_family(&family, &first, &access.issued())
        .await
        .map_err(|error| OAuthError::from_store(&error))?;
    Ok((token, family_id))
}

/// The RFC 6749 §5.1 response.
pub(crate) fn response(
    access: SignedAccessToken,
    refresh_token: Option<String>,
    id_token: Option<String>,
) -> TokenResponse {
    let lifetime = access.claims.exp - access.claims.iat;
    TokenResponse {
        access_token: access.token,
        token_type: "Bearer".to_owned(),
        expires_in: u64::try_from(lifetime).unwrap_or(0),
        scope: (!access.claims.scope.is_empty()).then_some(access.claims.scope),
        refresh_token,
        id_token,
    }
}
