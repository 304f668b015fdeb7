//! Signing in through an upstream identity provider, once the provider's answer is validated:
//! which local account the upstream identity signs in to. An identity already linked signs in
//! to its account; a new one is linked to the account whose owner proved it (signed in and asked
//! to link), or, where an administrator allowed it for the provider, to the account of the
//! address the provider verified; otherwise a new account is made just in time, if the provider
//! allows that. An address alone never links.

use crate::ports::{ADDRESS_IN_USE, IDENTITY_LINKED, Store, StoreError};
use portcullis_core::federation::{AccountPolicy, FederatedIdentity, UpstreamProfile};
use portcullis_core::user::email_key;
use portcullis_core::{PasswordHasher, UnixSeconds, User, Username, generate_secret};

/// What a provider's identities may do with local accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountRules<'a> {
    /// The provider's id.
    pub provider: &'a str,
    /// Whether a first sign-in creates an account.
    pub accounts: AccountPolicy,
    /// Whether an address the provider verified links to the account that has it (verified).
    pub link_by_verified_email: bool,
}

/// Why the upstream sign-in came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// To sign in.
    SignIn,
    /// To link the identity to this signed-in account (its owner proved it by signing in).
    Link {
        /// The account.
        user_id: String,
    },
}

/// Which account the identity signed in to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// An identity linked before.
    Linked(User),
    /// Linked now to an existing account, by its owner's proof or a verified address.
    NewlyLinked(User, LinkProof),
    /// A new account, made for this identity.
    Created(User),
}

impl Resolution {
    /// The account signed in to.
    pub fn user(&self) -> &User {
        match self {
            Resolution::Linked(user)
            | Resolution::NewlyLinked(user, _)
            | Resolution::Created(user) => user,
        }
    }
}

/// What allowed a new link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProof {
    /// The account's owner was signed in and asked for it.
    SignedIn,
    /// The provider verified the address of an account that has it verified too.
    VerifiedEmail,
}

impl LinkProof {
    /// The proof as the audit log names it.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkProof::SignedIn => "signed_in",
            LinkProof::VerifiedEmail => "verified_email",
        }
    }
}

/// Why the identity signs in to no account.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The provider allows only existing accounts, and none is linked.
    #[error("no account is linked to this identity")]
    NoAccount,
    /// An account has the address, and nothing proves it is this person's.
    #[error("an account with this address exists; sign in to it and link the provider there")]
    AddressBelongsToAnAccount,
    /// The identity is linked to another account than the one asking to link it.
    #[error("this identity is linked to another account")]
    LinkedElsewhere,
    /// The account asking to link has a link to this provider already.
    #[error("this account is linked to another identity at this provider")]
    ProviderLinkedAlready,
    /// The account is disabled.
    #[error("the account is disabled")]
    Disabled,
    /// No free username (every candidate was taken).
    #[error("no free username")]
    NoUsername,
    /// A store failure, or no randomness.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The federation use case, borrowed for one sign-in.
pub struct Federation<'a> {
    /// The store.
    pub store: &'a dyn Store,
    /// Hashes the random password of an account made for an identity (it signs in upstream).
    pub hasher: &'a PasswordHasher,
}

impl Federation<'_> {
    /// The account `profile` from `rules.provider` signs in to at `now`, linking or creating
    /// as the rules and `intent` allow.
    ///
    /// # Errors
    /// [`FederationError`].
    pub async fn resolve(
        &self,
        rules: AccountRules<'_>,
        profile: &UpstreamProfile,
        intent: &Intent,
        now: UnixSeconds,
    ) -> Result<Resolution, FederationError> {
        let linked = self
            .store
            .find_federated_identity(rules.provider, &profile.subject)
            .await?;
        if let Some(identity) = linked {
            if let Intent::Link { user_id } = intent
                && *user_id != identity.user_id
            {
                return Err(FederationError::LinkedElsewhere);
            }
            return self.account_of(&identity).await.map(Resolution::Linked);
        }
        let identity = |user_id: &str| FederatedIdentity {
            provider: rules.provider.to_owned(),
            subject: profile.subject.clone(),
            user_id: user_id.to_owned(),
            email: profile.email.clone(),
            linked_at: now,
        };
        if let Intent::Link { user_id } = intent {
            let user = self
                .store
                .find_user_by_id(user_id)
                .await?
                .ok_or(FederationError::NoAccount)?;
            let user = live(user)?;
            self.link(&identity(&user.id)).await?;
            return Ok(Resolution::NewlyLinked(user, LinkProof::SignedIn));
        }
        if let Some(owner) = self.account_with_address(profile).await? {
            let proven =
                rules.link_by_verified_email && profile.email_verified && owner.email_verified();
            if !proven {
                return Err(FederationError::AddressBelongsToAnAccount);
            }
            let owner = live(owner)?;
            self.link(&identity(&owner.id)).await?;
            return Ok(Resolution::NewlyLinked(owner, LinkProof::VerifiedEmail));
        }
        if rules.accounts == AccountPolicy::ExistingOnly {
            return Err(FederationError::NoAccount);
        }
        self.create(rules, profile, &identity, now)
            .await
            .map(Resolution::Created)
    }

    /// The live account `identity` is linked to.
    async fn account_of(&self, identity: &FederatedIdentity) -> Result<User, FederationError> {
        let user = self
            .store
            .find_user_by_id(&identity.user_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("link without its account".to_owned()))?;
        live(user)
    }

    /// The account that has the address the profile names, if any.
    async fn account_with_address(
        &self,
        profile: &UpstreamProfile,
    ) -> Result<Option<User>, StoreError> {
        let Some(key) = profile.email.as_deref().and_then(email_key) else {
            return Ok(None);
        };
        Ok(self
            .store
            .find_users_by_email(&key)
            .await?
            .into_iter()
            .next())
    }

    async fn link(&self, identity: &FederatedIdentity) -> Result<(), FederationError> {
        match self.store.link_federated_identity(identity).await {
            Err(StoreError::Conflict(what)) if what == IDENTITY_LINKED => {
                // Either a concurrent sign-in linked this identity, or the account has a link
                // to this provider already.
                let now_linked = self
                    .store
                    .find_federated_identity(&identity.provider, &identity.subject)
                    .await?;
                Err(match now_linked {
                    Some(linked) if linked.user_id != identity.user_id => {
                        FederationError::LinkedElsewhere
                    }
                    Some(_) => return Ok(()),
                    None => FederationError::ProviderLinkedAlready,
                })
            }
            other => other.map_err(FederationError::from),
        }
    }

    /// A new account for the identity: a free username among the profile's candidates, the
    /// address if the provider verified it (unverified here: this server has not), the roles
    /// the rules grant, and a random password nobody knows.
    async fn create(
        &self,
        rules: AccountRules<'_>,
        profile: &UpstreamProfile,
        identity: &(dyn Fn(&str) -> FederatedIdentity + Sync),
        now: UnixSeconds,
    ) -> Result<User, FederationError> {
        let unavailable = |_| StoreError::Unavailable("random generator".into());
        let password = generate_secret(32).map_err(unavailable)?;
        let password_hash = self
            .hasher
            .hash(&password)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        // Kept as the provider spelled it, trimmed, only if it is an address and verified there.
        let email = profile
            .email
            .as_deref()
            .filter(|email| profile.email_verified && email_key(email).is_some())
            .map(|email| email.trim().to_owned());
        for candidate in profile.username_candidates(rules.provider) {
            let Ok(username) = Username::parse(&candidate) else {
                continue;
            };
            let user = User {
                id: uuid::Uuid::new_v4().to_string(),
                username,
                roles: profile.roles.clone(),
                email: email.clone(),
                email_verified_at: None,
                password_hash: password_hash.clone(),
                created_at: now,
                disabled_at: None,
            };
            match self
                .store
                .create_federated_user(&user, &identity(&user.id))
                .await
            {
                Ok(()) => return Ok(user),
                Err(StoreError::Conflict(what)) if what == ADDRESS_IN_USE => {
                    // Taken since the address was looked up.
                    return Err(FederationError::AddressBelongsToAnAccount);
                }
                Err(StoreError::Conflict(what)) if what == IDENTITY_LINKED => {
                    // A concurrent first sign-in of the same identity made the account.
                    let linked = self
                        .store
                        .find_federated_identity(rules.provider, &profile.subject)
                        .await?
                        .ok_or(FederationError::ProviderLinkedAlready)?;
                    return self.account_of(&linked).await;
                }
                // The username is taken: the next candidate.
                Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(FederationError::NoUsername)
    }
}

fn live(user: User) -> Result<User, FederationError> {
    if user.disabled_at.is_some() {
        Err(FederationError::Disabled)
    } else {
        Ok(user)
    }
}
