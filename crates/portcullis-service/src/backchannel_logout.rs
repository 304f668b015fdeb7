//! Delivering back-channel logout notices (OpenID Connect Back-Channel Logout 1.0 §2.5): due
//! notices are claimed (so two servers never send the same one at once); each becomes a logout
//! token signed for its client, posted to the client's `backchannel_logout_uri`, and leaves the
//! queue once the client answered 2xx. A failure is retried with back-off; after
//! [`MAX_LOGOUT_ATTEMPTS`] the notice is given up and audited. A notice for a client that no
//! longer exists or no longer has a URI is dropped.

use crate::{AuditLog, KeyManager, Store, StoreError};
use async_trait::async_trait;
use portcullis_core::logout_notice::{LOGOUT_TOKEN_TYP, LogoutTokenClaims, MAX_LOGOUT_ATTEMPTS};
use portcullis_core::outbox::retry_delay_secs;
use portcullis_core::{AuditEvent, Clock, LogoutNotice, generate_secret};
use portcullis_jose::sign_compact;

/// How long a claimed notice is held for its sender: a batch is sent concurrently, so this is
/// far more than one request's timeout.
pub const LOGOUT_LEASE_SECS: i64 = 60;
/// Notices claimed per round.
const BATCH: u32 = 20;

/// Posts a logout token to a client (the auth server's SSRF-guarded HTTP client implements it).
#[async_trait]
pub trait LogoutSender: Send + Sync {
    /// Posts `logout_token` to `uri` as `application/x-www-form-urlencoded`.
    ///
    /// # Errors
    /// Why the client did not answer 2xx, in words safe to log.
    async fn send(&self, uri: &str, logout_token: &str) -> Result<(), String>;
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogoutReport {
    /// Delivered and removed.
    pub delivered: u32,
    /// Failed for now; tried again later.
    pub postponed: u32,
    /// Given up, or for a client gone; removed.
    pub dropped: u32,
}

/// What became of one notice.
enum Outcome {
    Delivered,
    Postponed,
    Dropped,
}

/// Everything delivery needs, borrowed for one round.
pub struct LogoutDelivery<'a> {
    /// The queue and the clients.
    pub store: &'a dyn Store,
    /// The id token keys, which sign logout tokens.
    pub keys: &'a KeyManager,
    /// Posts the tokens.
    pub sender: &'a dyn LogoutSender,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// The issuer identifier.
    pub issuer: &'a str,
}

impl LogoutDelivery<'_> {
    /// Delivers every notice due now, in rounds of a few, until none is due.
    ///
    /// # Errors
    /// Store failures (notices already claimed are tried again once their lease ends).
    pub async fn deliver_due(&self) -> Result<LogoutReport, StoreError> {
        let mut report = LogoutReport::default();
        loop {
            let due = self
                .store
                .claim_due_logout_notices(self.clock.now(), LOGOUT_LEASE_SECS, BATCH)
                .await?;
            let claimed = due.len();
            // Concurrently: a client that never answers holds up one delivery, not the batch.
            let outcomes =
                futures_util::future::join_all(due.iter().map(|notice| self.deliver(notice))).await;
            for outcome in outcomes {
                match outcome? {
                    Outcome::Delivered => report.delivered += 1,
                    Outcome::Postponed => report.postponed += 1,
                    Outcome::Dropped => report.dropped += 1,
                }
            }
            if claimed < BATCH as usize {
                return Ok(report);
            }
        }
    }

    async fn deliver(&self, notice: &LogoutNotice) -> Result<Outcome, StoreError> {
        let client = self.store.find_client(&notice.client_id).await?;
        let Some((client, uri)) = client.and_then(|client| {
            let uri = client.backchannel_logout_uri.clone()?;
            Some((client, uri))
        }) else {
            self.store.remove_logout_notice(notice.id).await?;
            return Ok(Outcome::Dropped);
        };
        let outcome = match self.logout_token(notice, client.id_token_algorithm()) {
            Ok(token) => self.sender.send(&uri, &token).await,
            Err(reason) => Err(reason.to_owned()),
        };
        match outcome {
            Ok(()) => {
                self.store.remove_logout_notice(notice.id).await?;
                self.audit.record(&AuditEvent::BackchannelLogoutDelivered {
                    client_id: notice.client_id.clone(),
                    user_id: notice.subject.clone(),
                    sid: notice.sid.clone(),
                });
                Ok(Outcome::Delivered)
            }
            Err(reason) if notice.attempts.saturating_add(1) >= MAX_LOGOUT_ATTEMPTS => {
                tracing::warn!(client = %notice.client_id, %reason, "back-channel logout given up");
                self.store.remove_logout_notice(notice.id).await?;
                self.audit.record(&AuditEvent::BackchannelLogoutFailed {
                    client_id: notice.client_id.clone(),
                    user_id: notice.subject.clone(),
                    sid: notice.sid.clone(),
                    reason,
                });
                Ok(Outcome::Dropped)
            }
            Err(reason) => {
                let attempts = notice.attempts.saturating_add(1);
                let retry_at = self.clock.now() + retry_delay_secs(attempts);
                tracing::info!(client = %notice.client_id, attempts, %reason, "back-channel logout failed; retrying later");
                self.store
                    .postpone_logout_notice(notice.id, retry_at, &reason)
                    .await?;
                Ok(Outcome::Postponed)
            }
        }
    }

    /// A logout token for `notice`, signed with the client's id token algorithm (§2.4: signed as
    /// its id tokens are), typed `logout+jwt`.
    fn logout_token(
        &self,
        notice: &LogoutNotice,
        alg: portcullis_jose::Algorithm,
    ) -> Result<String, &'static str> {
        let now = self.clock.now();
        let signer = self
            .keys
            .signer(alg, now)
            .ok_or("no active signing key for the client's id token algorithm")?;
        let jti = generate_secret(16).map_err(|_| "random generator")?;
        let claims = LogoutTokenClaims::for_notice(self.issuer, notice, now, jti);
        let payload = serde_json::to_vec(&claims).map_err(|_| "logout token serialization")?;
        sign_compact(&payload, LOGOUT_TOKEN_TYP, &signer).map_err(|_| "logout token signing")
    }
}
