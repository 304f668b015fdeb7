//! Redeeming a device code (RFC 8628 §3.4-3.5): the device polls until its user decides.

use super::minting::{self, IdTokenContext};
use super::{TokenError, TokenIssuer};
use crate::roles::scope_for_user;
use portcullis_core::Client;
use portcullis_core::device_grant::PollAnswer;
use portcullis_core::grant::device_code;
use portcullis_core::secret::storage_digest;
use portcullis_types::{OAuthErrorCode, TokenResponse};

impl TokenIssuer<'_> {
    pub(super) async fn redeem_device_code(
        &self,
        client: &Client,
        device_code: &str,
    ) -> Result<TokenResponse, TokenError> {
        let hash = storage_digest(device_code);
        let now = self.clock.now();
        let Some(record) = self.store.find_device_grant(&hash).await? else {
            return Err(TokenError::invalid_grant("device_code is invalid"));
        };
        // RFC 8628 §3.4: the device code was issued to the polling client; another client's
        // poll changes nothing about it.
        if record.client_id != client.id {
            return Err(TokenError::invalid_grant(
                "device_code was issued to another client",
            ));
        }
        let (answer, interval) = record.poll(now);
        let approval = match answer {
            PollAnswer::Pending | PollAnswer::SlowDown => {
                self.store.record_device_poll(&hash, now, interval).await?;
                return Err(if answer == PollAnswer::SlowDown {
                    TokenError::refused(
                        OAuthErrorCode::SlowDown,
                        format!("poll at most every {interval} seconds"),
                    )
                } else {
                    TokenError::refused(
                        OAuthErrorCode::AuthorizationPending,
                        "the user has not decided yet",
                    )
                });
            }
            PollAnswer::Expired => {
                self.store.end_device_grant(&hash).await?;
                return Err(TokenError::refused(
                    OAuthErrorCode::ExpiredToken,
                    "device_code has expired; start again",
                ));
            }
            PollAnswer::Denied => {
                self.store.end_device_grant(&hash).await?;
                return Err(TokenError::refused(
                    OAuthErrorCode::AccessDenied,
                    "the user denied the request",
                ));
            }
            PollAnswer::Approved(approval) => approval,
        };
        // Tokens are issued once: of two polls racing, only the one that ends the grant gets them.
        if !self.store.end_device_grant(&hash).await? {
            return Err(TokenError::invalid_grant("device_code was used already"));
        }
        let user = self
            .user_of_live_session(
                &approval.sid,
                &approval.user_id,
                now,
                "the session that approved this device has ended",
            )
            .await?;
        let mut grant = device_code::grant(client, &record, &approval, &user, self.policy)?;
        // The user's roles may have changed since they approved.
        grant.scope = scope_for_user(self.store, &user, &grant.scope).await?;
        let access = self.access_token(&grant)?;
        let id_token = self.id_token_if_openid(
            &user,
            IdTokenContext {
                client,
                scope: &grant.scope,
                sid: &approval.sid,
                auth_time: approval.auth_time,
                amr: &approval.amr,
                nonce: None,
                access_token: &access.token,
            },
        )?;
        let refresh_token = self
            .refresh_family_if_wanted(client, &grant, &user.id, &access)
            .await?
            .map(|(token, _)| token);
        // Back-Channel Logout 1.0 §2.7: the client is told when this session ends.
        self.store
            .record_session_client(&approval.sid, &client.id, &user.id, now)
            .await?;
        Ok(minting::response(access, refresh_token, id_token))
    }
}
