//! Self-service registration (see [`portcullis_core::registration`]). The policy decides who may
//! register; the password is checked and hashed whatever happens next; one transaction stores
//! the registration (reserving its username for the link's lifetime) and queues either the
//! message with the link that confirms the address or, when an account already uses the
//! address, a message telling that address instead. The account is created only when the link
//! is followed with the chosen password. So the page answers the same either way, a later
//! attempt at the same username answers the same either way, and no address ever belongs to an
//! account its owner did not confirm.

use crate::chosen_password::hash_chosen_password;
use crate::credentials::Attempt;
use crate::email_verification::{LinkKind, LinkPurpose, VerificationError};
use crate::link_token::token_hash;
use crate::{
    AuditLog, CredentialVerifier, EmailVerification, NewRegistration, RegistrationOutcome,
    SignInThrottle, StoreError,
};
use portcullis_core::email_verification::VERIFICATION_LINK_LIFETIME_SECS;
use portcullis_core::registration::{address_in_use_email, registration_email};
use portcullis_core::user::{UserError, email_key};
use portcullis_core::{
    AuditEvent, Invitation, NewUser, PasswordError, PendingRegistration, RegistrationMode,
    RegistrationPolicy, RegistrationRefusal, User, Username,
};
use std::net::IpAddr;

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The policy refuses it.
    #[error(transparent)]
    Refused(#[from] RegistrationRefusal),
    /// The username or address is not valid.
    #[error(transparent)]
    Invalid(#[from] UserError),
    /// A self-chosen username may not contain `@` (it could pass for someone's address).
    #[error("choose a username without @")]
    UsernameLooksLikeAddress,
    /// An account or a pending registration has the username (usernames are not secret: they
    /// sign in).
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
    /// Where to continue after confirming (an authorization request).
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
    /// Who may register.
    pub policy: &'a RegistrationPolicy,
    /// The store, the password check, the clock, the audit log and the link page.
    pub verification: EmailVerification<'a>,
    /// The sign-in page, named in the message to an address that has an account.
    pub sign_in_page: &'a str,
    /// The forgotten-password page, named in that message too.
    pub forgot_page: &'a str,
}

impl Registration<'_> {
    fn credentials(&self) -> &CredentialVerifier {
        self.verification.credentials
    }

    fn throttle(&self) -> &dyn SignInThrottle {
        self.verification.throttle
    }

    fn audit(&self) -> &AuditLog {
        self.verification.audit
    }

    /// The live invitation of `token`, if any.
    ///
    /// # Errors
    /// Store failures.
    pub async fn invitation(&self, token: &str) -> Result<Option<Invitation>, StoreError> {
        let now = self.verification.clock.now();
        self.verification
            .store
            .find_invitation(&token_hash(token), now)
            .await
    }

    /// Registers: checks the policy, the username, the address and the password, then stores
    /// the registration and queues the message (to confirm the address, or telling an address
    /// that has an account). Either way the caller answers "check your email".
    ///
    /// # Errors
    /// [`RegistrationError`].
    pub async fn register(
        &self,
        form: RegistrationForm,
        remote_addr: Option<String>,
    ) -> Result<(), RegistrationError> {
        let username = Username::parse(form.username.trim())?;
        if username.as_str().contains('@') {
            return Err(RegistrationError::UsernameLooksLikeAddress);
        }
        let address = form.email.trim().to_owned();
        let key = email_key(&address).ok_or(UserError::InvalidEmail)?;
        // Invitations count only in invitation mode (an open registration uses none up).
        let invitation = match (&form.invitation, self.policy.mode) {
            (Some(token), RegistrationMode::Invite) => self.invitation(token).await?,
            _ => None,
        };
        self.policy.admits(&key, invitation.as_ref())?;
        // The password costs the same Argon2id work whether or not the address has an account.
        let password_hash = hash_chosen_password(
            self.credentials().hasher(),
            form.password,
            username.as_str(),
            Some(&address),
        )
        .await
        .map_err(RegistrationError::Password)?;
        let (token_hash, url) = self.verification.new_link_token()?;
        let now = self.verification.clock.now();
        let product = self.verification.product_name;
        let pending = PendingRegistration {
            token_hash,
            username,
            email: address.clone(),
            password_hash,
            return_to: form.return_to,
            expires_at: now + VERIFICATION_LINK_LIFETIME_SECS,
        };
        let registration = NewRegistration {
            pending: &pending,
            invitation_hash: invitation.as_ref().map(|found| found.token_hash.as_slice()),
            confirmation_email: &registration_email(
                product,
                pending.username.as_str(),
                &address,
                &url,
            ),
            address_in_use_email: &address_in_use_email(
                product,
                &address,
                self.sign_in_page,
                self.forgot_page,
            ),
        };
        let outcome = match self.verification.store.register(&registration, now).await {
            Ok(RegistrationOutcome::InvitationGone) => {
                return Err(RegistrationRefusal::InvitationInvalid.into());
            }
            Ok(outcome) => outcome,
            Err(StoreError::Conflict(_)) => return Err(RegistrationError::UsernameTaken),
            Err(error) => return Err(error.into()),
        };
        self.audit().record(&AuditEvent::RegistrationRequested {
            username: pending.username.to_string(),
            invited: invitation.is_some(),
            address_in_use: outcome == RegistrationOutcome::AddressInUse,
            remote_addr,
        });
        Ok(())
    }

    /// What the live registration of `token` is for, if there is one.
    ///
    /// # Errors
    /// Store failures.
    pub async fn pending(&self, token: &str) -> Result<Option<LinkPurpose>, StoreError> {
        let now = self.verification.clock.now();
        let found = self
            .verification
            .store
            .find_pending_registration(&token_hash(token), now)
            .await?;
        Ok(found.map(|pending| LinkPurpose {
            kind: LinkKind::Registration,
            username: pending.username.to_string(),
            email: pending.email,
        }))
    }

    /// Confirms a registration: the link of `token` with the password chosen for it (checked
    /// as a sign-in of that username, throttled) creates the account, its address verified.
    /// Returns the account and where to continue.
    ///
    /// # Errors
    /// [`VerificationError`].
    pub async fn confirm(
        &self,
        token: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(User, Option<String>), VerificationError> {
        let store = self.verification.store;
        let now = self.verification.clock.now();
        let hash = token_hash(token);
        let pending = store
            .find_pending_registration(&hash, now)
            .await?
            .ok_or(VerificationError::InvalidLink)?;
        let attempt = Attempt {
            username: pending.username.as_str(),
            password,
            client,
            now,
        };
        self.credentials()
            .verify_against(self.throttle(), attempt, pending.password_hash.clone())
            .await
            .map_err(VerificationError::from_sign_in)?;
        let mut user = NewUser {
            username: pending.username,
            roles: Vec::new(),
            email: Some(pending.email),
            password_hash: pending.password_hash,
        }
        .into_user(now);
        user.email_verified_at = Some(now);
        let created = store
            .complete_registration(&hash, &user, now)
            .await
            .map_err(VerificationError::from_conflict)?;
        if !created {
            return Err(VerificationError::InvalidLink);
        }
        self.audit().record(&AuditEvent::UserRegistered {
            user_id: user.id.clone(),
            username: user.username.to_string(),
            remote_addr: Some(client.to_string()),
        });
        self.audit().record(&AuditEvent::EmailVerified {
            user_id: user.id.clone(),
        });
        Ok((user, pending.return_to))
    }
}
