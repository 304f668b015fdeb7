//! The signed-in user's own account: what it holds (profile, sessions, connected applications)
//! and the changes they may make themselves, each audited: ending one of their sessions,
//! withdrawing an application's access (its consent and its tokens), and changing their password
//! (the current one checked through the sign-in throttle, the new one under the policy; every
//! session and token of the account ends), ending every session at once, and changing their
//! address (verified through a link to the new address before it is used).

use crate::chosen_password::hash_chosen_password;
use crate::credentials::{Attempt, SignInFailure};
use crate::{
    AuditLog, CredentialVerifier, EmailVerification, Revoker, SignInThrottle, Store, StoreError,
};
use portcullis_core::registration::address_in_use_email;
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::user::email_key;
use portcullis_core::{
    AuditEvent, Clock, PasswordError, RegistrationPolicy, Session, UnixSeconds, User,
};
use std::net::IpAddr;

/// What the account page shows.
#[derive(Debug, Clone)]
pub struct AccountOverview {
    /// The user.
    pub user: User,
    /// Their live sessions, newest first.
    pub sessions: Vec<Session>,
    /// Applications they allowed: `(client_id, scope, granted_at)`.
    pub consents: Vec<(String, String, UnixSeconds)>,
}

/// Why a password or address change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AccountChangeError {
    /// The current password is wrong (or too many attempts: the same answer).
    #[error("the current password is not right")]
    WrongPassword,
    /// Too many attempts; wait.
    #[error("too many attempts; please wait a while")]
    Locked,
    /// The new password breaks the policy.
    #[error(transparent)]
    Policy(PasswordError),
    /// The new address is not plausible.
    #[error("enter a valid email address")]
    InvalidEmail,
    /// The new address's domain is not allowed here.
    #[error("addresses of this domain cannot be used here")]
    DomainNotAllowed,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything the account page needs, borrowed for one request, for the signed-in `user`.
pub struct Account<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// Ends sessions and revokes tokens.
    pub revoker: Revoker<'a>,
    /// Checks the current password (throttled as sign-in) and hashes the new one.
    pub credentials: &'a CredentialVerifier,
    /// Sign-in failure counters.
    pub throttle: &'a dyn SignInThrottle,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// The signed-in user.
    pub user: &'a User,
}

impl Account<'_> {
    /// The user's profile, sessions and connected applications.
    ///
    /// # Errors
    /// Store failures.
    pub async fn overview(&self) -> Result<AccountOverview, StoreError> {
        Ok(AccountOverview {
            user: self.user.clone(),
            sessions: self
                .revoker
                .sessions
                .list_sessions_of_user(&self.user.id)
                .await?,
            consents: self.store.consents_of_user(&self.user.id).await?,
        })
    }

    /// Ends one of the user's own sessions (and its tokens); `false` when `sid` is not theirs.
    ///
    /// # Errors
    /// Store failures.
    pub async fn end_session(&self, sid: &str) -> Result<bool, StoreError> {
        let sessions = self
            .revoker
            .sessions
            .list_sessions_of_user(&self.user.id)
            .await?;
        if !sessions.iter().any(|session| session.sid == sid) {
            return Ok(false);
        }
        self.revoker.revoke_session(sid, self.clock.now()).await?;
        self.audit.record(&AuditEvent::SessionEndedByUser {
            user_id: self.user.id.clone(),
            sid: sid.to_owned(),
        });
        Ok(true)
    }

    /// Withdraws an application's access: its consent, and every refresh token (with the access
    /// tokens issued from them) it holds for the user; `false` when there was no consent.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_application(&self, client_id: &str) -> Result<bool, StoreError> {
        if !self.store.revoke_consent(&self.user.id, client_id).await? {
            return Ok(false);
        }
        let now = self.clock.now();
        let families = self
            .store
            .revoke_families_of_user_client(&self.user.id, client_id, now)
            .await?;
        self.revoker.revoke_tokens_of(&families, now).await?;
        self.audit.record(&AuditEvent::ConsentRevoked {
            user_id: self.user.id.clone(),
            client_id: client_id.to_owned(),
        });
        Ok(true)
    }

    /// Changes the password: `current` is checked as a sign-in would (throttled, the same
    /// failure whatever is wrong), `new` against the policy; then every session and token of
    /// the account ends, this one too.
    ///
    /// # Errors
    /// [`AccountChangeError`].
    pub async fn change_password(
        &self,
        current: &str,
        new: String,
        client: IpAddr,
    ) -> Result<(), AccountChangeError> {
        self.check_current_password(current, client).await?;
        let hash = hash_chosen_password(
            self.credentials.hasher(),
            new,
            self.user.username.as_str(),
            self.user.email.as_deref(),
        )
        .await
        .map_err(AccountChangeError::Policy)?;
        self.store
            .set_password_hash(self.user.username.as_str(), &hash)
            .await?;
        self.revoker
            .end_everything_of_user(&self.user.id, self.clock.now())
            .await?;
        self.audit.record(&AuditEvent::PasswordChanged {
            user_id: self.user.id.clone(),
        });
        Ok(())
    }

    /// Starts a change of address: `current` is checked as a sign-in would; the new address gets
    /// a verification link and becomes the account's only once it is followed (the old one is
    /// then told). When another account uses the address, that address gets a message instead
    /// and the answer is the same, so the page never tells. Returns the address as entered.
    ///
    /// # Errors
    /// [`AccountChangeError`].
    pub async fn request_email_change(
        &self,
        current: &str,
        new: &str,
        client: IpAddr,
        change: &EmailChange<'_>,
    ) -> Result<String, AccountChangeError> {
        let address = new.trim().to_owned();
        let key = email_key(&address).ok_or(AccountChangeError::InvalidEmail)?;
        if !change.policy.domain_allowed(&key) {
            return Err(AccountChangeError::DomainNotAllowed);
        }
        self.check_current_password(current, client).await?;
        // A right password must not make this a way to mail any address at will: counted per
        // address and per network like sign-in (the success above gave the sign-in count back).
        let keys = AttemptKeys::for_purpose("verify-mail", &key, client);
        match self.throttle.reserve(&keys, self.clock.now()).await? {
            ThrottleDecision::Locked(_) => return Err(AccountChangeError::Locked),
            ThrottleDecision::Allow(delay) => tokio::time::sleep(delay).await,
        }
        let others = self.store.find_users_by_email(&key).await?;
        if others.iter().any(|other| other.id != self.user.id) {
            let notice = address_in_use_email(
                change.verification.product_name,
                &address,
                change.sign_in_page,
                change.forgot_page,
            );
            self.store.enqueue_email(&notice, self.clock.now()).await?;
        } else {
            change
                .verification
                .send_link(self.user, &address, None, true)
                .await?;
        }
        Ok(address)
    }

    /// Ends every session of the user, this one too, and every token of theirs.
    ///
    /// # Errors
    /// Store failures.
    pub async fn end_all_sessions(&self) -> Result<(), StoreError> {
        self.revoker
            .end_everything_of_user(&self.user.id, self.clock.now())
            .await?;
        self.audit.record(&AuditEvent::SessionEndedByUser {
            user_id: self.user.id.clone(),
            sid: "all".to_owned(),
        });
        Ok(())
    }

    /// Checks the user's current password as a sign-in would (throttled, one failure answer):
    /// what a change that weakens or takes over the account asks for first.
    ///
    /// # Errors
    /// [`AccountChangeError::WrongPassword`], [`AccountChangeError::Locked`] or a store failure.
    pub async fn check_current_password(
        &self,
        current: &str,
        client: IpAddr,
    ) -> Result<(), AccountChangeError> {
        let attempt = Attempt {
            username: self.user.username.as_str(),
            password: current,
            client,
            now: self.clock.now(),
        };
        match self
            .credentials
            .verify(self.store, self.throttle, attempt)
            .await
        {
            Ok(user) if user.id == self.user.id => {}
            Ok(_) | Err(SignInFailure::InvalidCredentials(_)) => {
                return Err(AccountChangeError::WrongPassword);
            }
            Err(SignInFailure::Locked) => return Err(AccountChangeError::Locked),
            Err(SignInFailure::Store(error)) => return Err(error.into()),
            Err(SignInFailure::Busy) => {
                return Err(SignInFailure::busy_as_unavailable().into());
            }
        }
        Ok(())
    }
}

/// What a change of address needs besides the account.
pub struct EmailChange<'a> {
    /// Sends the link to the new address.
    pub verification: EmailVerification<'a>,
    /// The allowed domains.
    pub policy: &'a RegistrationPolicy,
    /// The sign-in page, named in the message to an address that has an account.
    pub sign_in_page: &'a str,
    /// The forgotten-password page, likewise.
    pub forgot_page: &'a str,
}
