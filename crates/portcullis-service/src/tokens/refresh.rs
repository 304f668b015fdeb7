//! Refreshing (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).

use super::minting::{self, IdTokenContext};
use super::{TokenError, TokenIssuer};
use crate::roles::scope_for_user;
use portcullis_core::grant::refresh_token;
use portcullis_core::{AuditEvent, Client, RefreshOutcome};
use portcullis_jose::sha256;
use portcullis_types::{GrantType, OAuthErrorCode, TokenResponse};

impl TokenIssuer<'_> {
    /// The new access token's `jti` is stored with the rotation, in one transaction, so a
    /// revocation of the family (reuse detected by another server at the same moment) revokes it
    /// too, or the rotation fails.
    pub(super) async fn refresh(
        &self,
        client: &Client,
        presented: &str,
        requested_scope: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let presented_hash = sha256(presented.as_bytes());
        let lookup = self
            .store
            .find_refresh_token(&presented_hash)
            .await?
            .ok_or_else(|| TokenError::invalid_grant("refresh token is invalid"))?;
        let scope = refresh_token::check(client, &lookup.family, requested_scope)?;
        // RFC 9449 §5.8: a bound family is refreshed only with a proof of its key.
        if let Some(bound) = &lookup.family.dpop_jkt
            && self.dpop_jkt.as_deref() != Some(bound.as_str())
        {
            return Err(TokenError::refused(
                OAuthErrorCode::InvalidDpopProof,
                "this refresh token is bound to a DPoP key: send a proof made with it",
            ));
        }
        let user = self.store.find_user_by_id(&lookup.family.user_id).await?;
        // The MFA policy (or the client's requirement, or the user's roles) may have changed since
        // the sign-in: a family below what is required now mints nothing more.
        if let Some(user) = &user
            && self.mfa.required_acr(&user.roles, client.require_mfa, None)
                > lookup.family.amr.acr()
        {
            return Err(TokenError::invalid_grant(
                "a second factor is now required: sign in again",
            ));
        }
        let mut grant =
            refresh_token::grant(client, &lookup.family, scope, user.as_ref(), self.policy)?;
        // A refresh gets what the user's roles allow now: a demoted user's next token is narrower.
        if let Some(user) = &user {
            grant.scope = scope_for_user(self.store, user, &grant.scope).await?;
        }
        let now = self.clock.now();
        let (next_token, next_hash) = minting::new_refresh_token()?;
        let next_expiry = now + self.refresh.sliding_secs;
        let claims = self.access_token_claims(&grant)?;
        let family = match self
            .store
            .rotate_refresh_token(
                &presented_hash,
                &next_hash,
                next_expiry,
                &minting::issued(&claims),
                now,
            )
            .await?
        {
            RefreshOutcome::Rotated(family) => family,
            RefreshOutcome::Invalid => {
                return Err(TokenError::invalid_grant(
                    "refresh token is invalid, expired or revoked",
                ));
            }
            RefreshOutcome::Reused(revoked) => {
                self.revoker
                    .revoke_tokens_of(std::slice::from_ref(&revoked), now)
                    .await?;
                self.audit.record(&AuditEvent::ReplayDetected {
                    grant_type: GrantType::RefreshToken.as_str().to_owned(),
                    client_id: client.id.clone(),
                    user_id: revoked.family.user_id,
                });
                return Err(TokenError::invalid_grant(
                    "refresh token was already used; the grant is revoked",
                ));
            }
        };
        let access = self.sign_access_token(claims, grant.grant_type.as_str())?;
        let id_token = match &user {
            Some(user) => self.id_token_if_openid(
                user,
                IdTokenContext {
                    client,
                    scope: &grant.scope,
                    sid: &family.sid,
                    auth_time: family.auth_time,
                    amr: &family.amr,
                    nonce: None,
                    access_token: &access.token,
                },
            )?,
            None => None,
        };
        Ok(minting::response(access, Some(next_token), id_token))
    }
}
