//! Forgotten passwords (see [`portcullis_core::password_reset`]): asking for a link queues the
//! request and nothing else, so the answer and the work are the same for any address; the
//! background task turns requests into links and emails; a link sets a new password once, under
//! the password policy, and ends every session and token of the account (announced to gateways).

use crate::chosen_password::hash_chosen_password;
use crate::link_token::{new_link_token, token_hash};
use crate::{AuditLog, Revoker, Store, StoreError};
use portcullis_core::password_reset::{RESET_LINK_LIFETIME_SECS, reset_email};
use portcullis_core::user::email_key;
use portcullis_core::{AuditEvent, Clock, PasswordError, PasswordHasher, ResetLink};

/// Requests settled per round.
const BATCH: u32 = 50;

/// Why a reset did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The link is unknown, expired, already used or superseded.
    #[error("the link has expired or was already used")]
    InvalidLink,
    /// The new password breaks the policy (the link still works).
    #[error(transparent)]
    Password(PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything the flow needs, borrowed for one request or round.
pub struct PasswordReset<'a> {
    /// Accounts, requests, links and the outbox.
    pub store: &'a dyn Store,
    /// Ends the account's sessions and tokens after a reset.
    pub revoker: Revoker<'a>,
    /// Checks and hashes the new password.
    pub hasher: &'a PasswordHasher,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Where links point: the page `GET {reset_page}?token=...`.
    pub reset_page: &'a str,
    /// The product's name, in the message.
    pub product_name: &'a str,
}

impl PasswordReset<'_> {
    /// Queues a request for a link to `email` (an implausible address queues nothing); the same
    /// one store write whoever owns the address.
    ///
    /// # Errors
    /// Store failures.
    pub async fn request(&self, email: &str) -> Result<(), StoreError> {
        match email_key(email) {
            Some(key) => self.store.queue_reset_request(&key, self.clock.now()).await,
            None => Ok(()),
        }
    }

    /// Settles queued requests: each active account using the address gets a new link (older
    /// ones stop working) by email; addresses of no active account get nothing. Returns how many
    /// requests were settled.
    ///
    /// # Errors
    /// Store failures, or no randomness for a token.
    pub async fn settle_requests(&self) -> Result<usize, StoreError> {
        let requests = self.store.reset_requests(BATCH).await?;
        for request in &requests {
            let now = self.clock.now();
            let accounts = self.store.find_users_by_email(&request.email_key).await?;
            let mut links = Vec::new();
            for account in accounts.iter().filter(|user| user.disabled_at.is_none()) {
                let Some(address) = &account.email else {
                    continue;
                };
                let (token, token_hash) = new_link_token()?;
                let link = format!("{}?token={token}", self.reset_page);
                links.push((
                    ResetLink {
                        token_hash,
                        user_id: account.id.clone(),
                        expires_at: now + RESET_LINK_LIFETIME_SECS,
                    },
                    reset_email(self.product_name, account.username.as_str(), address, &link),
                ));
            }
            self.store
                .settle_reset_request(request.id, &links, now)
                .await?;
            for (link, _) in &links {
                self.audit.record(&AuditEvent::PasswordResetRequested {
                    user_id: link.user_id.clone(),
                });
            }
        }
        Ok(requests.len())
    }

    /// Whether `token` is a live link (the page shows the form only then).
    ///
    /// # Errors
    /// Store failures.
    pub async fn link_is_live(&self, token: &str) -> Result<bool, StoreError> {
        let hash = token_hash(token);
        Ok(self
            .store
            .find_reset_link(&hash, self.clock.now())
            .await?
            .is_some())
    }

    /// Sets `password` for the account of the link `token`: the password is checked first (a
    /// refused one leaves the link working), then the link is used (once, even under
    /// concurrency), the hash stored, and every session and token of the account ended.
    ///
    /// # Errors
    /// [`ResetError`].
    pub async fn reset(
        &self,
        token: &str,
        password: String,
        remote_addr: Option<String>,
    ) -> Result<(), ResetError> {
        let hash = token_hash(token);
        let now = self.clock.now();
        let user_id = self
            .store
            .find_reset_link(&hash, now)
            .await?
            .ok_or(ResetError::InvalidLink)?;
        let user = self
            .store
            .find_user_by_id(&user_id)
            .await?
            .filter(|user| user.disabled_at.is_none())
            .ok_or(ResetError::InvalidLink)?;
        let password_hash = hash_chosen_password(
            self.hasher,
            password,
            user.username.as_str(),
            user.email.as_deref(),
        )
        .await
        .map_err(ResetError::Password)?;
        if self.store.use_reset_link(&hash, self.clock.now()).await? != Some(user.id.clone()) {
            return Err(ResetError::InvalidLink);
        }
        if !self
            .store
            .set_password_hash(user.username.as_str(), &password_hash)
            .await?
        {
            return Err(ResetError::InvalidLink);
        }
        self.revoker
            .end_everything_of_user(&user.id, self.clock.now())
            .await?;
        self.audit.record(&AuditEvent::PasswordReset {
            user_id: user.id,
            remote_addr,
        });
        Ok(())
    }
}
