//! `portcullis admin user ...`

use super::read_password_from_stdin;
use crate::commands::format_time;
use crate::config::Config;
use anyhow::{Context, bail};
use clap::Subcommand;
use portcullis_core::user::{normalize_roles, validate_email};
use portcullis_core::{Clock, NewUser, PasswordHasher, SystemClock, Username};
use portcullis_service::{ConsentStore, StoreError, UserStore};
use portcullis_store::SqlStore;

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add {
        /// Username (case-insensitively unique).
        name: String,
        /// Roles (repeat the flag or separate by commas).
        #[arg(long = "role", value_name = "ROLE", num_args = 1.., value_delimiter = ',')]
        roles: Vec<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (required: passwords never go in arguments).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Delete a user.
    Remove {
        /// Username.
        name: String,
    },
    /// Replace a user's password, read from standard input.
    SetPassword {
        /// Username.
        name: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Replace a user's roles.
    SetRoles {
        /// Username.
        name: String,
        /// Roles (repeat the flag or separate by commas); none clears them.
        #[arg(long = "role", value_name = "ROLE", num_args = 0.., value_delimiter = ',')]
        roles: Vec<String>,
    },
    /// Disable a user: they can no longer sign in.
    Disable {
        /// Username.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Username.
        name: String,
    },
    /// Forget a user's consent to a client; the consent page is shown again next time.
    RevokeConsent {
        /// Username.
        name: String,
        /// Client id.
        client: String,
    },
}

impl UserCommand {
    pub(super) async fn run(self, config: &Config, store: &SqlStore) -> anyhow::Result<()> {
        let hasher = || PasswordHasher::new(config.password_policy()).context("password settings");
        match self {
            UserCommand::Add {
                name, roles, email, ..
            } => {
                let username = Username::parse(&name)?;
                let roles = normalize_roles(roles)?;
                if let Some(email) = &email {
                    validate_email(email)?;
                }
                let password_hash = hasher()?.hash(&read_password_from_stdin()?)?;
                let user = NewUser {
                    username,
                    roles,
                    email,
                    password_hash,
                }
                .into_user(SystemClock.now());
                match store.create_user(&user).await {
                    Err(StoreError::Conflict(_)) => bail!("user `{name}` already exists"),
                    other => other?,
                }
                println!("created user {} ({})", user.username, user.id);
            }
            UserCommand::List => {
                let users = store.list_users().await?;
                println!(
                    "{:<24} {:<36} {:<24} {:<28} {:<8} CREATED",
                    "USERNAME", "ID", "ROLES", "EMAIL", "STATUS"
                );
                for user in users {
                    println!(
                        "{:<24} {:<36} {:<24} {:<28} {:<8} {}",
                        user.username,
                        user.id,
                        user.roles.join(","),
                        user.email.as_deref().unwrap_or("-"),
                        if user.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "active"
                        },
                        format_time(user.created_at)
                    );
                }
            }
            UserCommand::Remove { name } => {
                let user = existing(store, &name).await?;
                found(store.delete_user(&name).await?, &name)?;
                revoke_subject(config, store, &user.id).await?;
                println!("removed user {name}; their tokens are revoked");
            }
            UserCommand::SetPassword { name, .. } => {
                let user = existing(store, &name).await?;
                let hash = hasher()?.hash(&read_password_from_stdin()?)?;
                found(store.set_password_hash(&name, &hash).await?, &name)?;
                let ended = end_everything_of_user(config, store, &user.id).await?;
                println!(
                    "password of {name} changed; {ended} session(s) ended and their tokens revoked"
                );
            }
            UserCommand::SetRoles { name, roles } => {
                let roles = normalize_roles(roles)?;
                found(store.set_roles(&name, &roles).await?, &name)?;
                println!("roles of {name}: {}", roles.join(","));
            }
            UserCommand::Disable { name } => {
                let user = existing(store, &name).await?;
                let disabled = store
                    .set_disabled_at(&name, Some(SystemClock.now()))
                    .await?;
                found(disabled, &name)?;
                revoke_subject(config, store, &user.id).await?;
                println!("disabled user {name}; their tokens are revoked");
            }
            UserCommand::Enable { name } => {
                found(store.set_disabled_at(&name, None).await?, &name)?;
                println!("enabled user {name}");
            }
            UserCommand::RevokeConsent { name, client } => {
                let user = existing(store, &name).await?;
                if !store.revoke_consent(&user.id, &client).await? {
                    bail!("user `{name}` has no consent for client `{client}`");
                }
                println!("revoked {name}'s consent to {client}");
            }
        }
        Ok(())
    }
}

async fn existing(store: &SqlStore, name: &str) -> anyhow::Result<portcullis_core::User> {
    store
        .find_user_by_username(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user `{name}`"))
}

/// Puts the user's id on the revocation feed for as long as any of their access tokens can live,
/// so introspection, userinfo and gateways reject those tokens at once.
async fn revoke_subject(config: &Config, store: &SqlStore, user_id: &str) -> anyhow::Result<()> {
    let revocations = crate::cluster::CommandRevocations::new(config, store)?;
    let revoked = revocations
        .revoker()
        .revoke_subject(user_id, SystemClock.now())
        .await;
    revocations.finish().await;
    Ok(revoked?)
}

/// Ends every session and refresh token family of the user and revokes their access tokens, so
/// whoever knew the old password is signed out everywhere; returns how many sessions ended.
async fn end_everything_of_user(
    config: &Config,
    store: &SqlStore,
    user_id: &str,
) -> anyhow::Result<usize> {
    let revocations = crate::cluster::CommandRevocations::new(config, store)?;
    let ended = revocations
        .revoker()
        .end_everything_of_user(user_id, SystemClock.now())
        .await;
    revocations.finish().await;
    Ok(ended?)
}

fn found(changed: bool, name: &str) -> anyhow::Result<()> {
    if changed {
        Ok(())
    } else {
        bail!("no user `{name}`")
    }
}
