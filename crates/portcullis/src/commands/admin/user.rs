//! `portcullis admin user ...`

use super::context::AdminContext;
use super::read_password_from_stdin;
use crate::commands::format_time;
use clap::Subcommand;
use portcullis_service::admin::{InitialPassword, UserDraft};

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
    pub(super) async fn run(self, context: &AdminContext) -> anyhow::Result<()> {
        let admin = context.administration();
        match self {
            UserCommand::Add {
                name, roles, email, ..
            } => {
                let user = admin
                    .create_user(UserDraft {
                        username: name,
                        roles,
                        email,
                        password: InitialPassword::Plain(read_password_from_stdin()?),
                    })
                    .await?;
                println!("created user {} ({})", user.username, user.id);
            }
            UserCommand::List => {
                let users = admin.store.list_users().await?;
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
                admin.delete_user(&name).await?;
                println!("removed user {name}; their tokens are revoked");
            }
            UserCommand::SetPassword { name, .. } => {
                let ended = admin
                    .set_password(&name, read_password_from_stdin()?)
                    .await?;
                println!(
                    "password of {name} changed; {ended} session(s) ended and their tokens revoked"
                );
            }
            UserCommand::SetRoles { name, roles } => {
                let roles = admin.set_roles(&name, roles).await?;
                println!("roles of {name}: {}", roles.join(","));
            }
            UserCommand::Disable { name } => {
                admin.disable_user(&name).await?;
                println!("disabled user {name}; their tokens are revoked");
            }
            UserCommand::Enable { name } => {
                admin.enable_user(&name).await?;
                println!("enabled user {name}");
            }
            UserCommand::RevokeConsent { name, client } => {
                admin.revoke_consent(&name, &client).await?;
                println!("revoked {name}'s consent to {client}");
            }
        }
        Ok(())
    }
}
