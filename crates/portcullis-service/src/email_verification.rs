//! Verifying addresses (see [`portcullis_core::email_verification`]): sending a link to an
//! address (a registration's, a changed one, or again when sign-in waits for it), and following
//! one, which makes its address the account's, verified, and tells the old address of a change.

use crate::link_token::{new_link_token, token_hash};
use crate::{AuditLog, Store, StoreError};
use portcullis_core::email_verification::{
    VERIFICATION_LINK_LIFETIME_SECS, address_changed_email, verification_email,
};
use portcullis_core::{AuditEvent, Clock, User, VerificationLink};

/// Why following a link did nothing.
#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    /// The link is unknown, expired, used or superseded.
    #[error("the link has expired or was already used")]
    InvalidLink,
    /// Another account uses the address now.
    #[error("another account uses this address now")]
    AddressTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A followed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAddress {
    /// The account.
    pub user_id: String,
    /// Its address now.
    pub email: String,
    /// Where the user was going when the link was sent (an authorization request).
    pub return_to: Option<String>,
}

/// Everything verification needs, borrowed for one request.
pub struct EmailVerification<'a> {
    /// Accounts, links and the outbox.
    pub store: &'a dyn Store,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Where links point: the page `GET {verify_page}?token=...`.
    pub verify_page: &'a str,
    /// The product's name, in the messages.
    pub product_name: &'a str,
}

impl EmailVerification<'_> {
    /// A new link (the hash stored, the URL to send) for `user` to verify `address`.
    ///
    /// # Errors
    /// No randomness.
    pub fn new_link(
        &self,
        user: &User,
        address: &str,
        return_to: Option<&str>,
    ) -> Result<(VerificationLink, String), StoreError> {
        let (token, token_hash) = new_link_token()?;
        let link = VerificationLink {
            token_hash,
            user_id: user.id.clone(),
            email: address.to_owned(),
            return_to: return_to.map(str::to_owned),
            expires_at: self.clock.now() + VERIFICATION_LINK_LIFETIME_SECS,
        };
        Ok((link, format!("{}?token={token}", self.verify_page)))
    }

    /// Sends `user` a link verifying `address` (their own, or with `change` a new one), which
    /// supersedes any older link.
    ///
    /// # Errors
    /// Store failures.
    pub async fn send_link(
        &self,
        user: &User,
        address: &str,
        return_to: Option<&str>,
        change: bool,
    ) -> Result<(), StoreError> {
        let (link, url) = self.new_link(user, address, return_to)?;
        let email = verification_email(
            self.product_name,
            user.username.as_str(),
            address,
            &url,
            change,
        );
        self.store
            .send_verification_link(&link, &email, self.clock.now())
            .await?;
        self.audit.record(&AuditEvent::EmailVerificationSent {
            user_id: user.id.clone(),
            change,
        });
        Ok(())
    }

    /// Follows a link: once, its address becomes the account's, verified; the old address (if
    /// another) is told.
    ///
    /// # Errors
    /// [`VerificationError`].
    pub async fn verify(&self, token: &str) -> Result<VerifiedAddress, VerificationError> {
        let hash = token_hash(token);
        let link = self
            .store
            .find_verification_link(&hash, self.clock.now())
            .await?
            .ok_or(VerificationError::InvalidLink)?;
        let user = self
            .store
            .find_user_by_id(&link.user_id)
            .await?
            .filter(|user| user.disabled_at.is_none())
            .ok_or(VerificationError::InvalidLink)?;
        let old = user
            .email
            .as_deref()
            .filter(|old| !old.eq_ignore_ascii_case(&link.email));
        let notice = old.map(|old| {
            address_changed_email(self.product_name, user.username.as_str(), old, &link.email)
        });
        let used = match self
            .store
            .use_verification_link(&hash, self.clock.now(), notice.as_ref())
            .await
        {
            Ok(used) => used.ok_or(VerificationError::InvalidLink)?,
            Err(StoreError::Conflict(_)) => return Err(VerificationError::AddressTaken),
            Err(error) => return Err(error.into()),
        };
        self.audit.record(&AuditEvent::EmailVerified {
            user_id: user.id.clone(),
        });
        if notice.is_some() {
            self.audit.record(&AuditEvent::EmailChanged {
                user_id: user.id.clone(),
            });
        }
        Ok(VerifiedAddress {
            user_id: used.user_id,
            email: used.email,
            return_to: used.return_to,
        })
    }
}
