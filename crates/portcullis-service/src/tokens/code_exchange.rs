//! Redeeming an authorization code (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6).

use super::minting::{self, IdTokenContext};
use super::{TokenError, TokenIssuer};
use crate::roles::scope_for_user;
use portcullis_core::grant::authorization_code::{self, CodeExchange};
use portcullis_core::{AuditEvent, Client, CodeRedemption};
use portcullis_jose::sha256;
use portcullis_types::{GrantType, TokenResponse};

impl TokenIssuer<'_> {
    pub(super) async fn exchange_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let code_hash = sha256(code.as_bytes());
        let now = self.clock.now();
        let record = match self.codes.redeem_code(&code_hash, now).await? {
            CodeRedemption::Fresh(record) => record,
            CodeRedemption::Unknown => return Err(TokenError::invalid_grant("code is invalid")),
            CodeRedemption::Replayed {
                record,
                family_id,
                access_token,
            } => {
                // RFC 6749 §4.1.2: a code used twice must be refused, and the tokens previously
                // issued from it should be revoked: the refresh family with every access token
                // it produced, and the code's own access token.
                if let Some(family_id) = family_id {
                    self.revoker.revoke_family(&family_id, now).await?;
                }
                self.revoker
                    .revoke_access_tokens(access_token.as_slice(), now)
                    .await?;
                self.audit.record(&AuditEvent::ReplayDetected {
                    grant_type: GrantType::AuthorizationCode.as_str().to_owned(),
                    client_id: client.id.clone(),
                    user_id: record.user_id,
                });
                return Err(TokenError::invalid_grant(
                    "code was already used; tokens issued from it are revoked",
                ));
            }
        };
        // A code outlives nothing: once its session has ended (logout, revocation), it is dead,
        // so no refresh family or client record starts after the end was announced.
        let user = self
            .user_of_live_session(
                &record.sid,
                &record.user_id,
                now,
                "the session of this code has ended",
            )
            .await?;
        let exchange = CodeExchange {
            redirect_uri,
            code_verifier,
        };
        let mut grant =
            authorization_code::grant(client, &record, exchange, &user, self.policy, now)?;
        // The user's roles may have changed since the code was issued.
        grant.scope = scope_for_user(self.store, &user, &grant.scope).await?;
        let access = self.access_token(&grant)?;
        let id_token = self.id_token_if_openid(
            &user,
            IdTokenContext {
                client,
                scope: &grant.scope,
                sid: &record.sid,
                auth_time: record.auth_time,
                amr: &record.amr,
                nonce: record.nonce.clone(),
                access_token: &access.token,
            },
        )?;
        let (refresh_token, family_id) = self
            .refresh_family_if_wanted(client, &grant, &user.id, &access)
            .await?
            .unzip();
        self.codes
            .record_code_tokens(&code_hash, family_id.as_deref(), &access.issued())
            .await?;
        // Back-Channel Logout 1.0 §2.7: the client is told when this session ends.
        self.store
            .record_session_client(&record.sid, &client.id, &user.id, now)
            .await?;
        Ok(minting::response(access, refresh_token, id_token))
    }
}
