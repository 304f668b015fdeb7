//! Self-service registration (see [`portcullis_core::registration`]): the policy decides who may
//! register; the password is checked and hashed whatever happens next, and one transaction
//! either creates the account with its verification link and message, or, when the address
//! already has an account, queues a message to that address instead. The page answers the same
//! either way, so it never tells whether an address has an account.

use crate::chosen_password::hash_chosen_password;
use crate::email_verification::EmailVerification;
use crate::link_token::token_hash;
use crate::{AuditLog, NewRegistration, RegistrationOutcome, Store, StoreError};
use portcullis_core::email_verification::verification_email;
use portcullis_core::password_reset::email_key;
use portcullis_core::registration::address_in_use_email;
use portcullis_core::user::UserError;
use portcullis_core::{
    AuditEvent, Clock, Invitation, NewUser, PasswordError, PasswordHasher, RegistrationPolicy,
    RegistrationRefusal, Username,
};

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The policy refuses it.
    #[error(transparent)]
    Refused(#[from] RegistrationRefusal),
    /// The username or address is not valid.
    #[error(transparent)]
    Invalid(#[from] UserError),
    /// Another account has the username (usernames are not secret: they sign in).
    #[error("this username is taken; choose another")]
    UsernameTaken,
    /// The password breaks the policy.
    #[error(transparent)]
    Password(PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What someone filled in.
#[derive(Clone)]
pub struct RegistrationForm {
    /// The username.
    pub username: String,
    /// The address.
    pub email: String,
    /// The password.
    pub password: String,
    /// The invitation's token, in invitation mode.
    pub invitation: Option<String>,
    /// Where to continue after verifying (an authorization request).
    pub return_to: Option<String>,
}

impl std::fmt::Debug for RegistrationForm {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RegistrationForm")
            .field("username", &self.username)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// Everything registration needs, borrowed for one request.
pub struct Registration<'a> {
    /// Accounts, invitations, links and the outbox.
    pub store: &'a dyn Store,
    /// Checks and hashes the password.
    pub hasher: &'a PasswordHasher,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Who may register.
    pub policy: &'a RegistrationPolicy,
    /// Builds the verification link.
    pub verification: EmailVerification<'a>,
    /// The sign-in page and the forgotten-password page, named in the message to an address
    /// that already has an account.
    pub sign_in_page: &'a str,
    /// The forgotten-password page.
    pub forgot_page: &'a str,
}

impl Registration<'_> {
    /// The live invitation of `token`, if any.
    ///
    /// # Errors
    /// Store failures.
    pub async fn invitation(&self, token: &str) -> Result<Option<Invitation>, StoreError> {
        self.store
            .find_invitation(&token_hash(token), self.clock.now())
            .await
    }

    /// Registers: checks the policy, the username, the address and the password, then stores
    /// the account with its verification link and message (or, for an address that has an
    /// account, only a message to it). Either way the caller answers "check your email".
    ///
    /// # Errors
    /// [`RegistrationError`].
    pub async fn register(
        &self,
        form: RegistrationForm,
        remote_addr: Option<String>,
    ) -> Result<(), RegistrationError> {
        let username = Username::parse(form.username.trim())?;
        let address = form.email.trim().to_owned();
        let key = email_key(&address).ok_or(UserError::InvalidEmail)?;
        let invitation = match &form.invitation {
            Some(token) => self.invitation(token).await?,
            None => None,
        };
        self.policy.admits(&key, invitation.as_ref())?;
        // The password costs the same Argon2id work whether or not the address has an account.
        let password_hash = hash_chosen_password(
            self.hasher,
            form.password,
            username.as_str(),
            Some(&address),
        )
        .await
        .map_err(RegistrationError::Password)?;
        let user = NewUser {
            username,
            roles: Vec::new(),
            email: Some(address.clone()),
            password_hash,
        }
        .into_user(self.clock.now());
        let (link, url) = self
            .verification
            .new_link(&user, &address, form.return_to.as_deref())?;
        let product = self.verification.product_name;
        let registration = NewRegistration {
            user: &user,
            invitation_hash: invitation.as_ref().map(|found| found.token_hash.as_slice()),
            link: &link,
            verification_email: &verification_email(
                product,
                user.username.as_str(),
                &address,
                &url,
                false,
            ),
            address_in_use_email: &address_in_use_email(
                product,
                &address,
                self.sign_in_page,
                self.forgot_page,
            ),
        };
        match self.store.register(&registration, self.clock.now()).await {
            Ok(RegistrationOutcome::Created) => {
                self.audit.record(&AuditEvent::UserRegistered {
                    user_id: user.id.clone(),
                    username: user.username.to_string(),
                    invited: invitation.is_some(),
                    remote_addr,
                });
                self.audit.record(&AuditEvent::EmailVerificationSent {
                    user_id: user.id,
                    change: false,
                });
                Ok(())
            }
            // Only the owner of the address learns of it, by the message just queued.
            Ok(RegistrationOutcome::AddressInUse) => Ok(()),
            Ok(RegistrationOutcome::InvitationGone) => {
                Err(RegistrationRefusal::InvitationInvalid.into())
            }
            // Another registration of the same address won a race: answer as for one in use.
            Err(StoreError::Conflict(what)) if what.contains("email") => Ok(()),
            Err(StoreError::Conflict(_)) => Err(RegistrationError::UsernameTaken),
            Err(error) => Err(error.into()),
        }
    }
}
