//! Managing users. A change that takes access away (removal, disabling, a new password) also
//! revokes what the user holds, at once.

use super::{AdminError, Administration, one_page};
use crate::chosen_password::hash_chosen_password;
use crate::{ADDRESS_IN_USE, StoreError, UserSearch};
use portcullis_core::password::UNUSABLE_PASSWORD_HASH;
use portcullis_core::user::{normalize_roles, validate_email};
use portcullis_core::{NewUser, User, Username};

/// The largest page of users one call returns.
pub const MAX_USER_PAGE: u32 = 200;

/// One page of users and the cursor of the next, if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    /// The users, by username key.
    pub users: Vec<User>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// New roles.
    pub roles: Option<Vec<String>>,
    /// New email address, or `Some(None)` to remove it. A new address is unverified unless
    /// `email_verified` says otherwise.
    pub email: Option<Option<String>>,
    /// Vouch for the address (`true`: verified now) or withdraw that (`false`).
    pub email_verified: Option<bool>,
    /// Disable (`true`: their tokens are revoked) or enable.
    pub disabled: Option<bool>,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDraft {
    /// Username, case-insensitively unique.
    pub username: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// The initial password.
    pub password: InitialPassword,
}

/// A new user's password (its `Debug` never shows it).
#[derive(Clone, PartialEq, Eq)]
pub enum InitialPassword {
    /// A password, checked against the policy and hashed with Argon2id.
    Plain(String),
    /// An Argon2 hash in PHC format, stored as it is (from another system or an export).
    Hash(String),
    /// None: the user cannot sign in with a password until one is set.
    Unusable,
}

impl std::fmt::Debug for InitialPassword {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            InitialPassword::Plain(_) => "Plain(<redacted>)",
            InitialPassword::Hash(_) => "Hash(<redacted>)",
            InitialPassword::Unusable => "Unusable",
        })
    }
}

impl Administration<'_> {
    /// Creates a user.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming the field, [`AdminError::Conflict`] when the username is
    /// taken in any letter case, or a store failure.
    pub async fn create_user(&self, draft: UserDraft) -> Result<User, AdminError> {
        let username = Username::parse(&draft.username)?;
        let roles = normalize_roles(draft.roles)?;
        if let Some(email) = &draft.email {
            validate_email(email)?;
        }
        let password_hash = match draft.password {
            InitialPassword::Plain(password) => {
                self.hash_password(password, username.as_str(), draft.email.as_deref())
                    .await?
            }
            InitialPassword::Hash(hash) => self.checked_hash(hash)?,
            InitialPassword::Unusable => UNUSABLE_PASSWORD_HASH.to_owned(),
        };
        let user = NewUser {
            username,
            roles,
            email: draft.email,
            password_hash,
        }
        .into_user(self.clock.now());
        self.store
            .create_user(&user)
            .await
            .map_err(|error| match AdminError::from(error) {
                AdminError::Conflict(what) if what == ADDRESS_IN_USE => AdminError::Invalid {
                    field: "email",
                    message: "another account uses this email address".to_owned(),
                },
                AdminError::Conflict(_) => {
                    AdminError::Conflict(format!("user `{}`", user.username))
                }
                other => other,
            })?;
        self.record("user.create", user.username.as_str());
        Ok(user)
    }

    /// The user with this username, in any letter case.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn user(&self, username: &str) -> Result<User, AdminError> {
        self.store
            .find_user_by_username(username)
            .await?
            .ok_or_else(|| AdminError::not_found("user", username))
    }

    /// One page of users whose username starts with `prefix` (any letter case), after the
    /// cursor `after`; at most `limit` (clamped to 1..=[`MAX_USER_PAGE`]).
    ///
    /// # Errors
    /// A store failure.
    pub async fn list_users(
        &self,
        prefix: Option<String>,
        after: Option<String>,
        limit: u32,
    ) -> Result<UserPage, AdminError> {
        let limit = limit.clamp(1, MAX_USER_PAGE);
        let found = self
            .store
            .search_users(&UserSearch {
                prefix,
                after,
                limit: limit + 1,
            })
            .await?;
        let (users, next) = one_page(found, limit, |user| user.username.key());
        Ok(UserPage { users, next })
    }

    /// Applies `changes` to a user, every field validated before any is stored; returns the
    /// user as stored afterwards.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming the field, [`AdminError::NotFound`], or a store failure.
    pub async fn update_user(
        &self,
        username: &str,
        changes: UserChanges,
    ) -> Result<User, AdminError> {
        let roles = changes.roles.map(normalize_roles).transpose()?;
        if let Some(Some(email)) = &changes.email {
            validate_email(email)?;
        }
        let current = self.user(username).await?;
        if let Some(roles) = roles {
            self.set_roles(username, roles).await?;
        }
        if changes.email.is_some() || changes.email_verified.is_some() {
            self.set_email(&current, changes.email, changes.email_verified)
                .await?;
        }
        match changes.disabled {
            Some(true) => self.disable_user(username).await?,
            Some(false) => self.enable_user(username).await?,
            None => {}
        }
        self.user(username).await
    }

    /// Sets `user`'s address (`None`: keep it) and whether it is verified (`None`: a new address
    /// is not, an unchanged one stays as it was).
    async fn set_email(
        &self,
        user: &User,
        email: Option<Option<String>>,
        verified: Option<bool>,
    ) -> Result<(), AdminError> {
        let unchanged = email.as_ref().is_none_or(|new| {
            new.as_deref().map(str::to_lowercase) == user.email.as_deref().map(str::to_lowercase)
        });
        let email = email.unwrap_or_else(|| user.email.clone());
        let verified_at = match verified {
            Some(true) if email.is_some() => user
                .email_verified_at
                .filter(|_| unchanged)
                .or(Some(self.clock.now())),
            Some(_) => None,
            None if unchanged => user.email_verified_at,
            None => None,
        };
        let username = user.username.as_str();
        match self
            .store
            .set_email(username, email.as_deref(), verified_at)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(AdminError::not_found("user", username)),
            Err(StoreError::Conflict(_)) => {
                return Err(AdminError::Invalid {
                    field: "email",
                    message: "another account uses this email address".to_owned(),
                });
            }
            Err(error) => return Err(error.into()),
        }
        // A link asked for before would put back the address it names.
        self.store.delete_verification_links(&user.id).await?;
        self.record("user.set_email", username);
        Ok(())
    }

    /// Deletes a user and revokes their tokens.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn delete_user(&self, username: &str) -> Result<User, AdminError> {
        let user = self.user(username).await?;
        let now = self.clock.now();
        // Sessions end first (their clients are told, Back-Channel Logout 1.0), while the user
        // still exists.
        self.revoker.end_everything_of_user(&user.id, now).await?;
        if !self.store.delete_user(username).await? {
            return Err(AdminError::not_found("user", username));
        }
        self.revoker.revoke_subject(&user.id, now).await?;
        self.record("user.delete", user.username.as_str());
        Ok(user)
    }

    /// Replaces a user's password and ends every session and token family of theirs, so whoever
    /// knew the old password is signed out everywhere; returns how many sessions ended.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a password outside the policy, [`AdminError::NotFound`], or a
    /// store failure.
    pub async fn set_password(
        &self,
        username: &str,
        password: String,
    ) -> Result<usize, AdminError> {
        let user = self.user(username).await?;
        let hash = self
            .hash_password(password, user.username.as_str(), user.email.as_deref())
            .await?;
        self.replace_password_hash(username, &hash).await
    }

    /// Replaces a user's password hash with an Argon2 hash in PHC format (from another system)
    /// and, as [`Administration::set_password`], ends every session and token family of theirs.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a hash this server cannot read, [`AdminError::NotFound`], or a
    /// store failure.
    pub async fn set_password_hash(
        &self,
        username: &str,
        hash: String,
    ) -> Result<usize, AdminError> {
        let hash = self.checked_hash(hash)?;
        self.replace_password_hash(username, &hash).await
    }

    /// Stores `hash` and ends every session and token family of the user, so whoever knew the
    /// old password is signed out everywhere; returns how many sessions ended.
    async fn replace_password_hash(&self, username: &str, hash: &str) -> Result<usize, AdminError> {
        let user = self.user(username).await?;
        if !self.store.set_password_hash(username, hash).await? {
            return Err(AdminError::not_found("user", username));
        }
        let ended = self
            .revoker
            .end_everything_of_user(&user.id, self.clock.now())
            .await?;
        self.record("user.set_password", user.username.as_str());
        Ok(ended)
    }

    /// Replaces a user's roles; returns them normalized.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for a bad role, [`AdminError::NotFound`], or a store failure.
    pub async fn set_roles(
        &self,
        username: &str,
        roles: Vec<String>,
    ) -> Result<Vec<String>, AdminError> {
        let roles = normalize_roles(roles)?;
        if !self.store.set_roles(username, &roles).await? {
            return Err(AdminError::not_found("user", username));
        }
        self.record("user.set_roles", username);
        Ok(roles)
    }

    /// Disables a user (they can no longer sign in) and revokes their tokens.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn disable_user(&self, username: &str) -> Result<(), AdminError> {
        let user = self.user(username).await?;
        let now = self.clock.now();
        if !self.store.set_disabled_at(username, Some(now)).await? {
            return Err(AdminError::not_found("user", username));
        }
        // Every session ends (its clients are told) and the subject's tokens are refused.
        self.revoker.end_everything_of_user(&user.id, now).await?;
        self.revoker.revoke_subject(&user.id, now).await?;
        self.record("user.disable", user.username.as_str());
        Ok(())
    }

    /// Removes every second factor of a user (a lost authenticator app and recovery codes): the
    /// next sign-in asks for the password only, or leads through a new setup where a second
    /// factor is required. `false` when the user had none.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn reset_factors(&self, username: &str) -> Result<bool, AdminError> {
        let user = self.user(username).await?;
        let removed = self.store.delete_factors(&user.id).await?;
        self.record("user.reset_factors", user.username.as_str());
        Ok(removed)
    }

    /// Enables a disabled user.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] or a store failure.
    pub async fn enable_user(&self, username: &str) -> Result<(), AdminError> {
        if !self.store.set_disabled_at(username, None).await? {
            return Err(AdminError::not_found("user", username));
        }
        self.record("user.enable", username);
        Ok(())
    }

    /// Forgets a user's consent to a client; the consent page is shown again next time.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for the user or the consent, or a store failure.
    pub async fn revoke_consent(&self, username: &str, client_id: &str) -> Result<(), AdminError> {
        let user = self.user(username).await?;
        if !self.store.revoke_consent(&user.id, client_id).await? {
            return Err(AdminError::not_found(
                "consent",
                &format!("{username} -> {client_id}"),
            ));
        }
        self.record(
            "user.revoke_consent",
            &format!("{}:{client_id}", user.username),
        );
        Ok(())
    }

    /// `hash` if it is an Argon2id PHC string this server accepts (see
    /// [`PasswordHasher::accepts_hash`](portcullis_core::PasswordHasher::accepts_hash)).
    fn checked_hash(&self, hash: String) -> Result<String, AdminError> {
        if self.hasher.accepts_hash(&hash) {
            Ok(hash)
        } else {
            Err(AdminError::Invalid {
                field: "password_hash",
                message: "not an Argon2id hash in PHC format within this server's cost limits"
                    .to_owned(),
            })
        }
    }

    /// Whether `password` verifies against `stored`, off the async threads.
    pub(super) async fn password_matches(&self, password: &str, stored: &str) -> bool {
        let (hasher, password, stored) =
            (self.hasher.clone(), password.to_owned(), stored.to_owned());
        tokio::task::spawn_blocking(move || hasher.verify(&password, &stored).unwrap_or(false))
            .await
            .unwrap_or(false)
    }

    /// Checks a chosen password against the policy and hashes it.
    async fn hash_password(
        &self,
        password: String,
        username: &str,
        email: Option<&str>,
    ) -> Result<String, AdminError> {
        Ok(hash_chosen_password(self.hasher, password, username, email).await?)
    }
}
