//! Confirming addresses (see [`portcullis_core::email_verification`]): sending a link to an
//! address (a changed one, or the account's own when sign-in waits for it), and following one.
//! Following a link changes nothing by itself: the account's password must be entered with it
//! (throttled as sign-in), so neither a mail scanner that opens links nor the owner of an address
//! someone else typed can confirm it for another's account. Once confirmed, the address is the
//! account's, verified, and the old address (if another) is told.

use crate::credentials::{Attempt, SignInFailure};
use crate::link_token::{new_link_token, token_hash};
use crate::{ADDRESS_IN_USE, AuditLog, CredentialVerifier, SignInThrottle, Store, StoreError};
use portcullis_core::email_verification::{
    VERIFICATION_LINK_LIFETIME_SECS, address_changed_email, verification_email,
};
use portcullis_core::{AuditEvent, Clock, User, VerificationLink};
use std::net::IpAddr;

/// Why confirming an address (of an account, or of a registration) did nothing.
#[derive(Debug, thiserror::Error)]
pub enum VerificationError {
    /// The link is unknown, expired, used or superseded.
    #[error("the link has expired or was already used")]
    InvalidLink,
    /// The password is not the account's (the link keeps working).
    #[error("the password is not right")]
    WrongPassword,
    /// Too many attempts; wait.
    #[error("too many attempts; please wait a while and try again")]
    Locked,
    /// Another account uses this address now.
    #[error("another account uses this address now")]
    AddressTaken,
    /// Another account took the username meanwhile.
    #[error("another account took this username meanwhile; register again with another")]
    UsernameTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl VerificationError {
    /// The error of a failed password check.
    pub(crate) fn from_sign_in(failure: SignInFailure) -> Self {
        match failure {
            SignInFailure::InvalidCredentials(_) => VerificationError::WrongPassword,
            SignInFailure::Locked => VerificationError::Locked,
            SignInFailure::Store(error) => error.into(),
            SignInFailure::Busy => SignInFailure::busy_as_unavailable().into(),
        }
    }

    /// The error of a store conflict while an account takes its address or username.
    pub(crate) fn from_conflict(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) if what == ADDRESS_IN_USE => VerificationError::AddressTaken,
            StoreError::Conflict(_) => VerificationError::UsernameTaken,
            other => other.into(),
        }
    }
}

/// Whose address a link confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A registration's: confirming it creates the account.
    Registration,
    /// An existing account's (a changed address, or its own).
    Account,
}

/// What a live link confirms, for its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPurpose {
    /// Whose address.
    pub kind: LinkKind,
    /// The account's (or registration's) username.
    pub username: String,
    /// The address it confirms.
    pub email: String,
}

/// Everything verification needs, borrowed for one request.
pub struct EmailVerification<'a> {
    /// Accounts, links and the outbox.
    pub store: &'a dyn Store,
    /// Checks the account's password.
    pub credentials: &'a CredentialVerifier,
    /// Sign-in failure counters.
    pub throttle: &'a dyn SignInThrottle,
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
    /// A new link: its token's hash to store, and the URL to send.
    ///
    /// # Errors
    /// No randomness.
    pub fn new_link_token(&self) -> Result<(Vec<u8>, String), StoreError> {
        let (token, token_hash) = new_link_token()?;
        Ok((token_hash, format!("{}?token={token}", self.verify_page)))
    }

    /// Sends `user` a link confirming `address` (their own, or with `change` a new one), which
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
        let (token_hash, url) = self.new_link_token()?;
        let link = VerificationLink {
            token_hash,
            user_id: user.id.clone(),
            email: address.to_owned(),
            return_to: return_to.map(str::to_owned),
            expires_at: self.clock.now() + VERIFICATION_LINK_LIFETIME_SECS,
        };
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

    /// The live link of `token` and its account, if any.
    ///
    /// # Errors
    /// Store failures.
    pub async fn link(&self, token: &str) -> Result<Option<(VerificationLink, User)>, StoreError> {
        let Some(link) = self
            .store
            .find_verification_link(&token_hash(token), self.clock.now())
            .await?
        else {
            return Ok(None);
        };
        let user = self
            .store
            .find_user_by_id(&link.user_id)
            .await?
            .filter(|user| user.disabled_at.is_none());
        Ok(user.map(|user| (link, user)))
    }

    /// What the live link of `token` confirms, if there is one.
    ///
    /// # Errors
    /// Store failures.
    pub async fn purpose(&self, token: &str) -> Result<Option<LinkPurpose>, StoreError> {
        Ok(self.link(token).await?.map(|(link, user)| LinkPurpose {
            kind: LinkKind::Account,
            username: user.username.to_string(),
            email: link.email,
        }))
    }

    /// Follows a link with the account's `password`: once, its address becomes the account's,
    /// verified; the old address (if another) is told. Returns the account and the link.
    ///
    /// # Errors
    /// [`VerificationError`].
    pub async fn verify(
        &self,
        token: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(User, VerificationLink), VerificationError> {
        let (link, user) = self
            .link(token)
            .await?
            .ok_or(VerificationError::InvalidLink)?;
        let attempt = Attempt {
            username: user.username.as_str(),
            password,
            client,
            now: self.clock.now(),
        };
        let signed_in = self
            .credentials
            .verify(self.store, self.throttle, attempt)
            .await
            .map_err(VerificationError::from_sign_in)?;
        if signed_in.id != user.id {
            return Err(VerificationError::WrongPassword);
        }
        let old = user
            .email
            .as_deref()
            .filter(|old| !old.eq_ignore_ascii_case(&link.email));
        let notice = old.map(|old| {
            address_changed_email(self.product_name, user.username.as_str(), old, &link.email)
        });
        let used = self
            .store
            .use_verification_link(&link.token_hash, self.clock.now(), notice.as_ref())
            .await
            .map_err(VerificationError::from_conflict)?
            .ok_or(VerificationError::InvalidLink)?;
        self.audit.record(&AuditEvent::EmailVerified {
            user_id: user.id.clone(),
        });
        if user.email.as_deref() != Some(used.email.as_str()) {
            self.audit.record(&AuditEvent::EmailChanged {
                user_id: user.id.clone(),
            });
        }
        let user = User {
            email: Some(used.email.clone()),
            email_verified_at: Some(self.clock.now()),
            ..user
        };
        Ok((user, used))
    }
}
