//! `portcullis admin client ...`

use super::backend::Backend;
use crate::commands::format_time;
use clap::Subcommand;
use portcullis_auth::admin_api::clients::{ClientView, NewClientBody};
use portcullis_types::GrantType;

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once, as `client_secret: ...`.
    Add {
        /// Client id.
        id: String,
        /// A public client (native or browser app): no secret; PKCE required.
        #[arg(long)]
        public: bool,
        /// Allowed grant types: client_credentials, authorization_code, refresh_token.
        #[arg(long = "grant", value_name = "GRANT", required = true, num_args = 1.., value_delimiter = ',')]
        grants: Vec<GrantType>,
        /// Registered redirect URIs (exact match).
        #[arg(long = "redirect-uri", value_name = "URI", num_args = 1.., value_delimiter = ',')]
        redirect_uris: Vec<String>,
        /// Scopes the client may request.
        #[arg(long = "scope", value_name = "SCOPE", num_args = 1.., value_delimiter = ',')]
        scopes: Vec<String>,
        /// Audiences the client may request tokens for.
        #[arg(long = "audience", value_name = "AUDIENCE", num_args = 1.., value_delimiter = ',')]
        audiences: Vec<String>,
        /// Access token lifetime in seconds (default: the server's).
        #[arg(long, value_name = "SECONDS")]
        access_token_lifetime: Option<i64>,
        /// A first-party app: users are not asked for consent.
        #[arg(long)]
        first_party: bool,
        /// Registered post-logout redirect URIs (exact match).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI", num_args = 1.., value_delimiter = ',')]
        post_logout_redirect_uris: Vec<String>,
        /// Id token algorithm: RS256 (default), ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
    },
    /// List clients.
    List,
    /// Show one client.
    Show {
        /// Client id.
        id: String,
    },
    /// Delete a client.
    Remove {
        /// Client id.
        id: String,
    },
    /// Replace a confidential client's secret; the new one is printed once.
    RotateSecret {
        /// Client id.
        id: String,
    },
}

impl ClientCommand {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        match self {
            ClientCommand::Add {
                id,
                public,
                grants,
                redirect_uris,
                scopes,
                audiences,
                access_token_lifetime,
                first_party,
                post_logout_redirect_uris,
                id_token_alg,
            } => {
                let kind = if public { "public" } else { "confidential" };
                let created = backend
                    .create_client(NewClientBody {
                        id: id.clone(),
                        kind: kind.to_owned(),
                        grant_types: grants
                            .iter()
                            .map(|grant| grant.as_str().to_owned())
                            .collect(),
                        redirect_uris,
                        scopes,
                        audiences,
                        access_token_lifetime_secs: access_token_lifetime,
                        first_party,
                        post_logout_redirect_uris,
                        id_token_algorithm: id_token_alg,
                    })
                    .await?;
                println!("created {kind} client {id}");
                if let Some(secret) = created.client_secret {
                    println!("client_secret: {secret}");
                }
            }
            ClientCommand::List => {
                println!(
                    "{:<24} {:<13} {:<44} {:<24} AUDIENCES",
                    "ID", "TYPE", "GRANTS", "SCOPES"
                );
                for client in backend.clients().await? {
                    println!(
                        "{:<24} {:<13} {:<44} {:<24} {}",
                        client.id,
                        client.kind,
                        client.grant_types.join(","),
                        client.scopes.join(" "),
                        client.audiences.join(",")
                    );
                }
            }
            ClientCommand::Show { id } => print_client(&backend.client(&id).await?),
            ClientCommand::Remove { id } => {
                backend.delete_client(&id).await?;
                println!("removed client {id}");
            }
            ClientCommand::RotateSecret { id } => {
                let secret = backend.rotate_client_secret(&id).await?;
                println!("rotated the secret of {id}; the old secret no longer works");
                println!("client_secret: {secret}");
            }
        }
        Ok(())
    }
}

fn print_client(client: &ClientView) {
    println!("id:             {}", client.id);
    println!("type:           {}", client.kind);
    println!("grants:         {}", client.grant_types.join(","));
    println!("redirect URIs:  {}", client.redirect_uris.join(" "));
    println!("scopes:         {}", client.scopes.join(" "));
    println!(
        "first party:    {}",
        if client.first_party {
            "yes (no consent page)"
        } else {
            "no"
        }
    );
    println!(
        "logout URIs:    {}",
        client.post_logout_redirect_uris.join(" ")
    );
    println!("id token alg:   {}", client.id_token_algorithm);
    println!("audiences:      {}", client.audiences.join(" "));
    let lifetime = client
        .access_token_lifetime_secs
        .map_or_else(|| "server default".to_owned(), |secs| format!("{secs}s"));
    println!("token lifetime: {lifetime}");
    println!("created:        {}", format_time(client.created_at));
}
