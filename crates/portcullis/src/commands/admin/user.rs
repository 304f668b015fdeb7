//! `portcullis admin user ...`

use super::backend::Backend;
use super::read_password_from_stdin;
use crate::commands::format_time;
use clap::Subcommand;
use portcullis_auth::admin_api::users::{NewUserBody, UserPatch};

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
    /// Remove a user's second factors (authenticator app and recovery codes), for a user who
    /// lost them: the next sign-in asks for the password only, or for a new setup where a
    /// second factor is required.
    ResetFactors {
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
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        match self {
            UserCommand::Add {
                name, roles, email, ..
            } => {
                let user = backend
                    .create_user(NewUserBody {
                        username: name,
                        roles,
                        email,
                        password: read_password_from_stdin()?,
                    })
                    .await?;
                println!("created user {} ({})", user.username, user.id);
            }
            UserCommand::List => {
                let users = backend.users().await?;
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
                backend.delete_user(&name).await?;
                println!("removed user {name}; their tokens are revoked");
            }
            UserCommand::SetPassword { name, .. } => {
                let ended = backend
                    .set_password(&name, read_password_from_stdin()?)
                    .await?;
                println!(
                    "password of {name} changed; {ended} session(s) ended and their tokens revoked"
                );
            }
            UserCommand::SetRoles { name, roles } => {
                let patch = UserPatch {
                    roles: Some(roles),
                    ..UserPatch::default()
                };
                let user = backend.update_user(&name, patch).await?;
                println!("roles of {name}: {}", user.roles.join(","));
            }
            UserCommand::Disable { name } => {
                backend.update_user(&name, disabled(true)).await?;
                println!("disabled user {name}; their tokens are revoked");
            }
            UserCommand::Enable { name } => {
                backend.update_user(&name, disabled(false)).await?;
                println!("enabled user {name}");
            }
            UserCommand::ResetFactors { name } => {
                backend.reset_factors(&name).await?;
                println!("second factors of {name} removed");
            }
            UserCommand::RevokeConsent { name, client } => {
                backend.revoke_consent(&name, &client).await?;
                println!("revoked {name}'s consent to {client}");
            }
        }
        Ok(())
    }
}

fn disabled(disabled: bool) -> UserPatch {
    UserPatch {
        disabled: Some(disabled),
        ..UserPatch::default()
    }
}
