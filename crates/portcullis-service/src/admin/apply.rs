//! Declarative administration: a desired set of roles, clients and users is compared with the store,
//! the differences become a [`Plan`] (create, update, delete; secrets never shown), and applying
//! it makes the store match. Applying the same desired state twice changes nothing the second
//! time; objects missing from the desired state are deleted only when pruning.

use super::clients::is_built_in;
use super::{AdminError, Administration, InitialPassword, UserChanges, UserDraft};
use portcullis_core::user::normalize_roles;
use portcullis_core::{Client, ClientKind, ClientRegistration, Role, SecretHash, User, Username};
use std::collections::HashSet;
use std::fmt;

/// The roles, clients and users that should exist, secrets already read from where they live.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// Roles, by name (validated when they were built).
    pub roles: Vec<Role>,
    /// Clients, by id.
    pub clients: Vec<DesiredClient>,
    /// Users, by username.
    pub users: Vec<DesiredUser>,
}

/// A client that should exist (its `Debug` never shows the secret).
#[derive(Clone)]
pub struct DesiredClient {
    /// Its registration.
    pub registration: ClientRegistration,
    /// A confidential client's secret; `None` generates one on creation and keeps it after.
    pub secret: Option<String>,
}

/// A user that should exist.
#[derive(Debug, Clone)]
pub struct DesiredUser {
    /// Username.
    pub username: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Vouch for the address (`Some(true)`) or withdraw that (`Some(false)`); `None` leaves it
    /// as it is (an address the user verified stays verified).
    pub email_verified: Option<bool>,
    /// The password: set when it differs; [`InitialPassword::Unusable`] leaves an existing one.
    pub password: InitialPassword,
}

/// One change of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Define a role.
    CreateRole { name: String },
    /// Replace the named fields of a role.
    UpdateRole {
        name: String,
        fields: Vec<&'static str>,
    },
    /// Delete a role (pruning).
    DeleteRole { name: String },
    /// Register a client (`generated`: it gets a new secret, shown once).
    CreateClient { id: String, generated: bool },
    /// Replace the named fields of a client's registration.
    UpdateClient {
        id: String,
        fields: Vec<&'static str>,
    },
    /// Give a client the desired secret.
    SetClientSecret { id: String },
    /// Delete a client (pruning).
    DeleteClient { id: String },
    /// Create a user.
    CreateUser { username: String },
    /// Change the named fields of a user.
    UpdateUser {
        username: String,
        fields: Vec<&'static str>,
    },
    /// Set the user's password (every session of theirs ends).
    SetPassword { username: String },
    /// Delete a user (pruning).
    DeleteUser { username: String },
}

impl fmt::Display for Change {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateRole { name } => write!(formatter, "+ role {name}"),
            Change::UpdateRole { name, fields } => {
                write!(formatter, "~ role {name}: {}", fields.join(", "))
            }
            Change::DeleteRole { name } => write!(formatter, "- role {name}"),
            Change::CreateClient { id, generated } => {
                let secret = if *generated {
                    " (new secret, shown once)"
                } else {
                    ""
                };
                write!(formatter, "+ client {id}{secret}")
            }
            Change::UpdateClient { id, fields } => {
                write!(formatter, "~ client {id}: {}", fields.join(", "))
            }
            Change::SetClientSecret { id } => write!(formatter, "~ client {id}: secret"),
            Change::DeleteClient { id } => write!(formatter, "- client {id}"),
            Change::CreateUser { username } => write!(formatter, "+ user {username}"),
            Change::UpdateUser { username, fields } => {
                write!(formatter, "~ user {username}: {}", fields.join(", "))
            }
            Change::SetPassword { username } => write!(formatter, "~ user {username}: password"),
            Change::DeleteUser { username } => write!(formatter, "- user {username}"),
        }
    }
}

/// What an apply would change, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The changes; empty when the store already matches.
    pub changes: Vec<Change>,
}

/// Secrets generated while applying, to show once (its `Debug` shows only the client ids).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// `(client id, secret)` of each client created with a generated secret.
    pub generated_secrets: Vec<(String, String)>,
}

impl fmt::Debug for DesiredClient {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DesiredClient")
            .field("registration", &self.registration)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Debug for Applied {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clients: Vec<&str> = self
            .generated_secrets
            .iter()
            .map(|(client, _)| client.as_str())
            .collect();
        formatter
            .debug_struct("Applied")
            .field("generated_secrets_for", &clients)
            .finish()
    }
}

impl Administration<'_> {
    /// What applying `desired` would change; nothing is changed.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming the field of the first invalid or duplicated object, or a
    /// store failure.
    pub async fn plan(&self, desired: &DesiredState, prune: bool) -> Result<Plan, AdminError> {
        let mut changes = self.plan_roles(desired, prune).await?;
        changes.extend(self.plan_clients(desired, prune).await?);
        changes.extend(self.plan_users(desired, prune).await?);
        Ok(Plan { changes })
    }

    /// Makes the store match `desired`: the changes of [`Administration::plan`], each audited.
    ///
    /// # Errors
    /// As [`Administration::plan`]; a failure stops the apply (what was applied stays, and a
    /// new apply continues from there).
    pub async fn apply(
        &self,
        desired: &DesiredState,
        prune: bool,
    ) -> Result<(Plan, Applied), AdminError> {
        let plan = self.plan(desired, prune).await?;
        let mut applied = Applied::default();
        for change in &plan.changes {
            self.carry_out(desired, change, &mut applied).await?;
        }
        Ok((plan, applied))
    }

    async fn carry_out(
        &self,
        desired: &DesiredState,
        change: &Change,
        applied: &mut Applied,
    ) -> Result<(), AdminError> {
        let client = |id: &str| {
            desired
                .clients
                .iter()
                .find(|client| client.registration.id == id)
                .ok_or(AdminError::Internal("plan and desired state disagree"))
        };
        let user = |username: &str| {
            desired
                .users
                .iter()
                .find(|user| user.username == username)
                .ok_or(AdminError::Internal("plan and desired state disagree"))
        };
        match change {
            Change::CreateRole { name } | Change::UpdateRole { name, .. } => {
                let wanted = desired
                    .roles
                    .iter()
                    .find(|role| &role.name == name)
                    .ok_or(AdminError::Internal("plan and desired state disagree"))?;
                self.put_role(wanted).await?;
            }
            Change::DeleteRole { name } => self.delete_role(name).await?,
            Change::CreateClient { id, .. } => {
                let wanted = client(id)?;
                let created = match &wanted.secret {
                    Some(secret) => {
                        self.register_client(wanted.registration.clone(), Some(secret.clone()))
                            .await?
                    }
                    None => self.create_client(wanted.registration.clone()).await?,
                };
                if wanted.secret.is_none()
                    && let Some(secret) = created.secret
                {
                    applied.generated_secrets.push((id.clone(), secret));
                }
            }
            Change::UpdateClient { id, .. } => {
                self.update_client(client(id)?.registration.clone()).await?;
            }
            Change::SetClientSecret { id } => {
                let secret = client(id)?
                    .secret
                    .as_deref()
                    .ok_or(AdminError::Internal("plan and desired state disagree"))?;
                self.set_client_secret(id, secret).await?;
            }
            Change::DeleteClient { id } => self.delete_client(id).await?,
            Change::CreateUser { username } => {
                let wanted = user(username)?;
                self.create_user(UserDraft {
                    username: wanted.username.clone(),
                    roles: wanted.roles.clone(),
                    email: wanted.email.clone(),
                    password: wanted.password.clone(),
                })
                .await?;
                if wanted.email_verified == Some(true) {
                    let vouch = UserChanges {
                        email_verified: Some(true),
                        ..UserChanges::default()
                    };
                    self.update_user(username, vouch).await?;
                }
            }
            Change::UpdateUser { username, .. } => {
                let wanted = user(username)?;
                self.update_user(
                    username,
                    UserChanges {
                        roles: Some(wanted.roles.clone()),
                        email: Some(wanted.email.clone()),
                        email_verified: wanted.email_verified,
                        disabled: None,
                    },
                )
                .await?;
            }
            Change::SetPassword { username } => match &user(username)?.password {
                InitialPassword::Plain(password) => {
                    self.set_password(username, password.clone()).await?;
                }
                InitialPassword::Hash(hash) => {
                    self.set_password_hash(username, hash.clone()).await?;
                }
                InitialPassword::Unusable => {}
            },
            Change::DeleteUser { username } => {
                self.delete_user(username).await?;
            }
        }
        Ok(())
    }

    async fn plan_roles(
        &self,
        desired: &DesiredState,
        prune: bool,
    ) -> Result<Vec<Change>, AdminError> {
        let existing = self.store.list_roles().await?;
        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        for wanted in &desired.roles {
            let name = &wanted.name;
            if !seen.insert(name.clone()) {
                return Err(invalid("roles", format!("role `{name}` is listed twice")));
            }
            match existing.iter().find(|role| &role.name == name) {
                None => changes.push(Change::CreateRole { name: name.clone() }),
                Some(current) => {
                    let fields: Vec<&'static str> = [
                        ("scopes", current.scopes != wanted.scopes),
                        ("description", current.description != wanted.description),
                    ]
                    .into_iter()
                    .filter_map(|(field, differs)| differs.then_some(field))
                    .collect();
                    if !fields.is_empty() {
                        changes.push(Change::UpdateRole {
                            name: name.clone(),
                            fields,
                        });
                    }
                }
            }
        }
        if prune {
            changes.extend(
                existing
                    .iter()
                    .filter(|role| !seen.contains(&role.name))
                    .map(|role| Change::DeleteRole {
                        name: role.name.clone(),
                    }),
            );
        }
        Ok(changes)
    }

    async fn plan_clients(
        &self,
        desired: &DesiredState,
        prune: bool,
    ) -> Result<Vec<Change>, AdminError> {
        let existing = self.store.list_clients().await?;
        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        for wanted in &desired.clients {
            let id = &wanted.registration.id;
            if !seen.insert(id.clone()) {
                return Err(invalid("clients", format!("client `{id}` is listed twice")));
            }
            if is_built_in(id) {
                return Err(invalid("clients", format!("client `{id}` is built in")));
            }
            // Every field validated the way registration does, before anything is changed.
            // (A placeholder secret for a confidential client without keys: the real one is
            // given or generated when applied.)
            let placeholder = (wanted.registration.kind == ClientKind::Confidential
                && wanted.registration.keys.is_none())
            .then(|| SecretHash::of(""));
            let candidate = wanted.registration.clone().into_client(
                placeholder,
                self.max_access_token_lifetime_secs,
                0,
            )?;
            if wanted.secret.is_some() && wanted.registration.kind == ClientKind::Public {
                return Err(invalid(
                    "secret",
                    format!("public client `{id}` has no secret"),
                ));
            }
            match existing.iter().find(|client| &client.id == id) {
                None => changes.push(Change::CreateClient {
                    id: id.clone(),
                    generated: wanted.registration.kind == ClientKind::Confidential
                        && wanted.registration.keys.is_none()
                        && wanted.secret.is_none(),
                }),
                Some(current) => {
                    if current.kind != candidate.kind {
                        return Err(invalid(
                            "kind",
                            format!("client `{id}` is {}; its type cannot change", current.kind),
                        ));
                    }
                    let fields = client_differences(current, &candidate);
                    if !fields.is_empty() {
                        changes.push(Change::UpdateClient {
                            id: id.clone(),
                            fields,
                        });
                    }
                    if let Some(secret) = &wanted.secret
                        && !current.secret_is_valid(Some(secret))
                    {
                        changes.push(Change::SetClientSecret { id: id.clone() });
                    }
                }
            }
        }
        if prune {
            changes.extend(
                existing
                    .iter()
                    // Clients that described themselves (RFC 7591, metadata documents) are not
                    // the file's to list.
                    .filter(|client| {
                        !seen.contains(&client.id)
                            && !is_built_in(&client.id)
                            && !client.is_self_described()
                    })
                    .map(|client| Change::DeleteClient {
                        id: client.id.clone(),
                    }),
            );
        }
        Ok(changes)
    }

    async fn plan_users(
        &self,
        desired: &DesiredState,
        prune: bool,
    ) -> Result<Vec<Change>, AdminError> {
        let existing = self.store.list_users().await?;
        let mut seen = HashSet::new();
        let mut changes = Vec::new();
        for wanted in &desired.users {
            let key = Username::parse(&wanted.username)?.key();
            if !seen.insert(key.clone()) {
                return Err(invalid(
                    "users",
                    format!(
                        "user `{}` is listed twice (in any letter case)",
                        wanted.username
                    ),
                ));
            }
            let roles = normalize_roles(wanted.roles.clone())?;
            if let Some(email) = &wanted.email {
                portcullis_core::user::validate_email(email)?;
            }
            match existing.iter().find(|user| user.username.key() == key) {
                None => changes.push(Change::CreateUser {
                    username: wanted.username.clone(),
                }),
                Some(current) => {
                    let mut fields = Vec::new();
                    if current.roles != roles {
                        fields.push("roles");
                    }
                    if current.email != wanted.email {
                        fields.push("email");
                    }
                    if wanted
                        .email_verified
                        .is_some_and(|verified| verified != current.email_verified())
                    {
                        fields.push("email_verified");
                    }
                    if !fields.is_empty() {
                        changes.push(Change::UpdateUser {
                            username: wanted.username.clone(),
                            fields,
                        });
                    }
                    if self.password_differs(current, &wanted.password).await {
                        changes.push(Change::SetPassword {
                            username: wanted.username.clone(),
                        });
                    }
                }
            }
        }
        if prune {
            let unlisted = existing
                .iter()
                .filter(|user| !seen.contains(&user.username.key()));
            for user in unlisted {
                // Pruning the account of the admin applying would lock them out mid-apply.
                if self.actor.subject() == Some(user.id.as_str()) {
                    return Err(invalid(
                        "users",
                        format!(
                            "--prune would delete your own account `{}`; list it in the file",
                            user.username
                        ),
                    ));
                }
                changes.push(Change::DeleteUser {
                    username: user.username.to_string(),
                });
            }
        }
        Ok(changes)
    }

    async fn password_differs(&self, user: &User, wanted: &InitialPassword) -> bool {
        match wanted {
            InitialPassword::Plain(password) => {
                !self.password_matches(password, &user.password_hash).await
            }
            InitialPassword::Hash(hash) => *hash != user.password_hash,
            InitialPassword::Unusable => false,
        }
    }
}

fn invalid(field: &'static str, message: String) -> AdminError {
    AdminError::Invalid { field, message }
}

/// The registration fields in which `current` differs from `wanted`.
fn client_differences(current: &Client, wanted: &Client) -> Vec<&'static str> {
    [
        ("grant_types", current.grant_types != wanted.grant_types),
        (
            "redirect_uris",
            current.redirect_uris != wanted.redirect_uris,
        ),
        ("scopes", current.scopes != wanted.scopes),
        ("audiences", current.audiences != wanted.audiences),
        (
            "access_token_lifetime_secs",
            current.access_token_lifetime_secs != wanted.access_token_lifetime_secs,
        ),
        ("first_party", current.first_party != wanted.first_party),
        (
            "post_logout_redirect_uris",
            current.post_logout_redirect_uris != wanted.post_logout_redirect_uris,
        ),
        (
            "id_token_algorithm",
            current.id_token_algorithm() != wanted.id_token_algorithm(),
        ),
        ("keys", current.keys != wanted.keys),
        (
            "dpop_bound_access_tokens",
            current.dpop_bound_access_tokens != wanted.dpop_bound_access_tokens,
        ),
        (
            "backchannel_logout_uri",
            current.backchannel_logout_uri != wanted.backchannel_logout_uri,
        ),
        ("require_mfa", current.require_mfa != wanted.require_mfa),
        (
            "require_pushed_authorization_requests",
            current.require_pushed_authorization_requests
                != wanted.require_pushed_authorization_requests,
        ),
        ("client_name", current.client_name != wanted.client_name),
        ("request_uris", current.request_uris != wanted.request_uris),
        (
            "request_object_signing_alg",
            current.request_object_signing_alg != wanted.request_object_signing_alg,
        ),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect()
}
