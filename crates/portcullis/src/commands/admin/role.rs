//! `portcullis admin role ...`: roles and the scopes they grant.

use super::backend::Backend;
use clap::Subcommand;
use portcullis_auth::admin_api::roles::RoleBody;

/// Role commands.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// List roles and their scopes.
    List,
    /// Create a role or replace its scopes and description. A scope some role lists reaches a
    /// user's tokens only through one of the user's roles.
    Set {
        /// The role's name, as on users.
        name: String,
        /// The scopes it grants (repeat or comma-separate; none: it governs nothing).
        #[arg(long = "scope", value_name = "SCOPE", num_args = 1.., value_delimiter = ',')]
        scopes: Vec<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a role (users keep the name; its scopes are governed by the roles left).
    Remove {
        /// The role's name.
        name: String,
    },
}

impl RoleCommand {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        match self {
            RoleCommand::List => {
                println!("{:<24} {:<48} DESCRIPTION", "NAME", "SCOPES");
                for role in backend.roles().await? {
                    println!(
                        "{:<24} {:<48} {}",
                        role.name,
                        role.scopes.join(" "),
                        role.description.unwrap_or_default()
                    );
                }
            }
            RoleCommand::Set {
                name,
                scopes,
                description,
            } => {
                let role = backend
                    .put_role(RoleBody {
                        name,
                        scopes,
                        description,
                    })
                    .await?;
                println!("role {}: {}", role.name, role.scopes.join(" "));
            }
            RoleCommand::Remove { name } => {
                backend.delete_role(&name).await?;
                println!("removed role {name}");
            }
        }
        Ok(())
    }
}
