//! `portcullis admin`: manages users, clients and signing keys directly in the store (the data
//! directory, or PostgreSQL with `--database-url`). Safe to run while servers use the same store
//! (SQLite WAL or PostgreSQL transactions; servers re-read keys).

mod apply;
mod audit;
mod backend;
mod client;
pub(crate) mod context;
mod invite;
mod keys;
mod remote;
mod role;
mod session;
mod user;

use crate::config::{Config, FlagOverrides};
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};

/// `portcullis admin [--data-dir D] ...`
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Data directory. Default ./portcullis-data.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// PostgreSQL of a cluster, instead of the embedded SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Act through the admin API of a running auth server (its admin listener, such as
    /// http://127.0.0.1:3010) instead of on the database, with the token of `portcullis login`
    /// or, with --client-id, a client-credentials token.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// With --server: the automation client whose token to use (scope portcullis:admin, the
    /// issuer among its audiences); its secret is read from PORTCULLIS_ADMIN_CLIENT_SECRET.
    #[arg(long, value_name = "ID", requires = "server")]
    client_id: Option<String>,
    /// With --server: PEM certificates to trust for https instead of the system's roots.
    #[arg(long, value_name = "PATH", requires = "server")]
    ca_file: Option<PathBuf>,
    /// With --client-id: the issuer whose token endpoint issues the token.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:3000")]
    issuer: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Users.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Roles and the scopes they grant.
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// OAuth clients.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Browser sign-in sessions.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Create a single-use invitation to register (registration mode `invite`).
    Invite(invite::InviteArgs),
    /// Make roles, clients and users match a TOML file (plan, then apply; --dry-run, --prune).
    Apply(apply::ApplyArgs),
    /// The newest audit events: sign-ins, tokens issued and refused, revocations, failures.
    Audit(audit::AuditArgs),
}

impl AdminArgs {
    /// Runs the admin command.
    ///
    /// # Errors
    /// One clear message per failure.
    pub async fn run(self, config_file: Option<&Path>) -> anyhow::Result<()> {
        if let Some(server) = &self.server {
            let auth = match &self.client_id {
                Some(client_id) => remote::RemoteAuth::ClientCredentials {
                    issuer: self.issuer.clone(),
                    client_id: client_id.clone(),
                    secret: std::env::var("PORTCULLIS_ADMIN_CLIENT_SECRET").map_err(|_| {
                        anyhow::anyhow!("--client-id needs PORTCULLIS_ADMIN_CLIENT_SECRET")
                    })?,
                },
                None => remote::RemoteAuth::Login,
            };
            let remote =
                remote::RemoteAdmin::connect(server, auth, self.ca_file.as_deref()).await?;
            return self.command.run(&backend::Backend::Remote(&remote)).await;
        }
        let flags = FlagOverrides {
            data_dir: self.data_dir,
            database_url: self.database_url,
            ..FlagOverrides::default()
        };
        let config = Config::load(config_file, &flags)?;
        let store = super::open_store(&config).await?;
        let context = context::AdminContext::new(&config, &store, context::operator())?;
        let backend = backend::Backend::Direct {
            context: &context,
            config: &config,
            store: &store,
        };
        let result = self.command.run(&backend).await;
        context.finish().await;
        store.close().await;
        result
    }
}

impl AdminCommand {
    async fn run(self, backend: &backend::Backend<'_>) -> anyhow::Result<()> {
        match self {
            AdminCommand::User(command) => command.run(backend).await,
            AdminCommand::Client(command) => command.run(backend).await,
            AdminCommand::Role(command) => command.run(backend).await,
            AdminCommand::Keys(command) => command.run(backend).await,
            AdminCommand::Session(command) => command.run(backend).await,
            AdminCommand::Audit(args) => args.run(backend).await,
            AdminCommand::Apply(args) => args.run(backend).await,
            AdminCommand::Invite(args) => args.run(backend).await,
        }
    }
}

/// Reads a password from standard input: everything up to the first line break.
fn read_password_from_stdin() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .map_err(|error| {
            anyhow::anyhow!("cannot read the password from standard input: {error}")
        })?;
    let password = input.lines().next().unwrap_or_default().to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on standard input");
    }
    Ok(password)
}
