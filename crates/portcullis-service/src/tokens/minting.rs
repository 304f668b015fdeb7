//! Minting tokens: RFC 9068 access tokens, OpenID Connect id tokens and refresh token families.

use super::{TokenError, TokenIssuer};
use portcullis_core::grant::AccessGrant;
use portcullis_core::id_token::{IdTokenClaims, profile_claims};
use portcullis_core::{
    AccessTokenClaims, AuditEvent, AuthMethods, Client, Confirmation, IssuedAccessToken,
    RefreshTokenFamily, RefreshTokenRecord, ScopeSet, User, generate_secret,
};
use portcullis_jose::{Algorithm, sha256, sign_compact, token_hash_claim};
use portcullis_types::{GrantType, TokenResponse};

/// Bytes of randomness in a `jti`.
const JTI_BYTES: usize = 16;
/// Bytes of randomness in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;
/// Bytes of randomness in a refresh token family id.
const FAMILY_ID_BYTES: usize = 16;

fn internal(what: &'static str) -> TokenError {
    tracing::error!(what, "cannot issue token");
    TokenError::Internal(what)
}

/// A signed access token with its claims.
pub struct SignedAccessToken {
    /// The compact JWS.
    pub token: String,
    /// What it says.
    pub claims: AccessTokenClaims,
}

impl SignedAccessToken {
    /// The token as a grant records it, to revoke it with the grant.
    pub fn issued(&self) -> IssuedAccessToken {
        issued(&self.claims)
    }
}

/// Access token `claims` as a grant records them.
pub(super) fn issued(claims: &AccessTokenClaims) -> IssuedAccessToken {
    IssuedAccessToken {
        jti: claims.jti.clone(),
        expires_at: claims.exp,
    }
}

/// What an id token needs beyond the user.
pub(super) struct IdTokenContext<'a> {
    pub client: &'a Client,
    pub scope: &'a ScopeSet,
    pub sid: &'a str,
    pub auth_time: i64,
    pub amr: &'a AuthMethods,
    pub nonce: Option<String>,
    pub access_token: &'a str,
}

impl TokenIssuer<'_> {
    /// Signs an access token for `grant`, audited and counted under its grant type.
    pub(super) fn access_token(
        &self,
        grant: &AccessGrant,
    ) -> Result<SignedAccessToken, TokenError> {
        self.sign_access_token(self.access_token_claims(grant)?, grant.grant_type.as_str())
    }

    /// The claims of a new access token for `grant`, with a fresh `jti`: what a grant records
    /// before the token is signed (a refresh rotation stores the `jti` in the same transaction).
    pub(super) fn access_token_claims(
        &self,
        grant: &AccessGrant,
    ) -> Result<AccessTokenClaims, TokenError> {
        let jti = generate_secret(JTI_BYTES).map_err(|_| internal("random generator"))?;
        let mut claims = AccessTokenClaims::new(grant, self.policy, self.clock.now(), jti);
        // RFC 9449 §6.1: a token issued on a DPoP proof is bound to the proof's key.
        claims.cnf = self.dpop_jkt.clone().map(|jkt| Confirmation { jkt });
        Ok(claims)
    }

    /// Signs access token `claims`, audited and counted under `via`.
    pub(super) fn sign_access_token(
        &self,
        claims: AccessTokenClaims,
        via: &'static str,
    ) -> Result<SignedAccessToken, TokenError> {
        let signer = self
            .keys
            .signer(self.access_token_algorithm, self.clock.now())
            .ok_or_else(|| internal("no active access token signing key"))?;
        let payload = serde_json::to_vec(&claims).map_err(|_| internal("claims serialization"))?;
        // RFC 9068 §2.1: access tokens carry `typ: at+jwt`.
        let token = sign_compact(&payload, "at+jwt", &signer).map_err(|_| internal("signing"))?;
        self.audit.record(&AuditEvent::TokenIssued {
            grant_type: via.to_owned(),
            client_id: claims.client_id.clone(),
            subject: claims.sub.clone(),
            jti: claims.jti.clone(),
            scope: claims.scope.clone(),
            audience: claims.aud.clone(),
        });
        self.metrics.token_issued(via);
        Ok(SignedAccessToken { token, claims })
    }

    /// An id token when the grant includes `openid` (OpenID Connect Core §3.1.3.3), else none.
    pub(super) fn id_token_if_openid(
        &self,
        user: &User,
        context: IdTokenContext<'_>,
    ) -> Result<Option<String>, TokenError> {
        if context.scope.contains("openid") {
            self.id_token(user, context).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Signs an id token with the client's id token algorithm (OpenID Connect Core §3.1.3.6,
    /// §3.1.3.7).
    fn id_token(&self, user: &User, context: IdTokenContext<'_>) -> Result<String, TokenError> {
        let now = self.clock.now();
        let alg: Algorithm = context.client.id_token_algorithm();
        let signer = self
            .keys
            .signer(alg, now)
            .ok_or_else(|| internal("no active id token signing key"))?;
        let claims = IdTokenClaims {
            iss: self.policy.issuer.clone(),
            sub: user.id.clone(),
            aud: context.client.id.clone(),
            exp: now + self.policy.access_token_lifetime(context.client),
            iat: now,
            auth_time: context.auth_time,
            acr: context.amr.acr().as_str(),
            amr: context.amr.values(),
            nonce: context.nonce,
            at_hash: Some(token_hash_claim(alg, context.access_token)),
            sid: context.sid.to_owned(),
            profile: profile_claims(user, context.scope),
        };
        let payload =
            serde_json::to_vec(&claims).map_err(|_| internal("id token serialization"))?;
        sign_compact(&payload, "JWT", &signer).map_err(|_| internal("id token signing"))
    }

    /// Starts a refresh token family for a user grant; returns the token and the family id.
    pub(super) async fn start_refresh_family(
        &self,
        grant: &AccessGrant,
        user_id: &str,
        access: &SignedAccessToken,
        public_client: bool,
    ) -> Result<(String, String), TokenError> {
        let now = self.clock.now();
        let context = grant
            .user
            .as_ref()
            .ok_or_else(|| internal("refresh token without a user"))?;
        let family_id =
            generate_secret(FAMILY_ID_BYTES).map_err(|_| internal("random generator"))?;
        let (token, hash) = new_refresh_token()?;
        let family = RefreshTokenFamily {
            id: family_id.clone(),
            client_id: grant.client_id.clone(),
            user_id: user_id.to_owned(),
            sid: context.sid.clone(),
            scope: grant.scope.to_string(),
            audiences: grant.audiences.clone(),
            auth_time: context.auth_time,
            amr: context.amr.clone(),
            created_at: now,
            expires_at: now + self.refresh.absolute_secs,
            revoked_at: None,
            // RFC 9449 §5.8: a public client's refresh tokens are bound to its DPoP key.
            dpop_jkt: self.dpop_jkt.clone().filter(|_| public_client),
        };
        let first = RefreshTokenRecord {
            token_hash: hash,
            family_id: family_id.clone(),
            created_at: now,
            expires_at: now + self.refresh.sliding_secs,
        };
        self.store
            .create_family(&family, &first, &access.issued())
            .await?;
        Ok((token, family_id))
    }

    /// The user `user_id` of a grant made in session `sid`, unless the session has ended since
    /// (logout, revocation; `ended` says which grant died with it) or the user is gone.
    pub(super) async fn user_of_live_session(
        &self,
        sid: &str,
        user_id: &str,
        now: portcullis_core::UnixSeconds,
        ended: &str,
    ) -> Result<portcullis_core::User, TokenError> {
        if self
            .store
            .is_revoked(portcullis_core::RevocationKind::Session, sid, now)
            .await?
        {
            return Err(TokenError::invalid_grant(ended));
        }
        self.store
            .find_user_by_id(user_id)
            .await?
            .ok_or_else(|| TokenError::invalid_grant("user is no longer active"))
    }

    /// A refresh token family for `client`'s user grant when it gets one (see
    /// [`wants_refresh_token`]): the token and the family id.
    pub(super) async fn refresh_family_if_wanted(
        &self,
        client: &Client,
        grant: &AccessGrant,
        user_id: &str,
        access: &SignedAccessToken,
    ) -> Result<Option<(String, String)>, TokenError> {
        if !wants_refresh_token(client, &grant.scope) {
            return Ok(None);
        }
        let public = client.kind == portcullis_core::ClientKind::Public;
        self.start_refresh_family(grant, user_id, access, public)
            .await
            .map(Some)
    }
}

/// Whether a grant gets a refresh token: the client may use the refresh grant, and the user asked
/// for `offline_access` or the client is first-party.
fn wants_refresh_token(client: &Client, scope: &ScopeSet) -> bool {
    client.allows_grant(GrantType::RefreshToken)
        && (scope.contains("offline_access") || client.first_party)
}

/// A new refresh token value and its hash.
pub(super) fn new_refresh_token() -> Result<(String, Vec<u8>), TokenError> {
    let token = generate_secret(REFRESH_TOKEN_BYTES).map_err(|_| internal("random generator"))?;
    let hash = sha256(token.as_bytes()).to_vec();
    Ok((token, hash))
}

/// The RFC 6749 §5.1 response.
pub(super) fn response(
    access: SignedAccessToken,
    refresh_token: Option<String>,
    id_token: Option<String>,
) -> TokenResponse {
    let lifetime = access.claims.exp - access.claims.iat;
    // RFC 9449 §5.1: a bound token's type is DPoP.
    let token_type = if access.claims.cnf.is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    TokenResponse {
        access_token: access.token,
        token_type: token_type.to_owned(),
        expires_in: u64::try_from(lifetime).unwrap_or(0),
        scope: (!access.claims.scope.is_empty()).then_some(access.claims.scope),
        refresh_token,
        id_token,
        issued_token_type: None,
    }
}
