//! `portcullis admin apply FILE`: makes the roles, clients and users match a TOML file. Shows the plan
//! first (secrets never printed); `--dry-run` stops there; objects missing from the file are
//! deleted only with `--prune`. Secrets come from environment variables or files named in the
//! file, never from the file itself.

use super::backend::Backend;
use anyhow::{Context, bail};
use clap::Args;
use portcullis_core::{ClientKeys, ClientKind, ClientRegistration, Role};
use portcullis_service::admin::{DesiredClient, DesiredState, DesiredUser, InitialPassword};
use portcullis_types::GrantType;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `admin apply` flags.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The desired state: `[[roles]]`, `[[clients]]` and `[[users]]` tables (see docs/admin-api.md).
    file: PathBuf,
    /// Show the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also delete roles, clients and users that are not in the file.
    #[arg(long)]
    prune: bool,
}

/// The file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DesiredFile {
    #[serde(default)]
    roles: Vec<RoleEntry>,
    #[serde(default)]
    clients: Vec<ClientEntry>,
    #[serde(default)]
    users: Vec<UserEntry>,
}

/// Where a secret comes from: `{ env = "VARIABLE" }` or `{ file = "PATH" }`. A plain string is
/// read only to refuse it: secrets never go in the file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SecretSource {
    Reference {
        /// The name of an environment variable holding it.
        env: Option<String>,
        /// A file holding it (trailing line breaks removed).
        file: Option<PathBuf>,
    },
    Inline(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    id: String,
    #[serde(default = "confidential")]
    kind: String,
    grant_types: Vec<GrantType>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    audiences: Vec<String>,
    access_token_lifetime_secs: Option<i64>,
    #[serde(default)]
    first_party: bool,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    id_token_algorithm: Option<String>,
    /// Public keys (a JWK Set) for private_key_jwt.
    jwks: Option<serde_json::Value>,
    /// Where its public keys are, instead of `jwks`.
    jwks_uri: Option<String>,
    #[serde(default)]
    dpop_bound_access_tokens: bool,
    backchannel_logout_uri: Option<String>,
    /// Users must sign in with a second factor to authorize it.
    #[serde(default)]
    require_mfa: bool,
    /// Its authorization requests are taken only when pushed (RFC 9126 §6).
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    /// A name to show users.
    client_name: Option<String>,
    /// URLs its request objects may be fetched from by reference (RFC 9101 §5.2).
    #[serde(default)]
    request_uris: Vec<String>,
    /// How its request objects must be signed: `none` or an algorithm.
    request_object_signing_alg: Option<String>,
    /// A confidential client's secret; absent: generated on creation (unless it has keys),
    /// printed once.
    secret: Option<SecretSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    username: String,
    #[serde(default)]
    roles: Vec<String>,
    email: Option<String>,
    /// Vouch for the address (or withdraw that); absent: leave it.
    email_verified: Option<bool>,
    /// A password to set (checked against the policy, hashed with Argon2id).
    password: Option<SecretSource>,
    /// An Argon2 PHC hash to store as it is.
    password_hash: Option<SecretSource>,
}

fn confidential() -> String {
    "confidential".to_owned()
}

impl SecretSource {
    /// Reads the secret; `what` names it in errors (never the value).
    fn read(&self, what: &str) -> anyhow::Result<String> {
        let SecretSource::Reference { env, file } = self else {
            bail!(
                "{what}: secrets never go in the file; use {{ env = \"VARIABLE\" }} or \
                 {{ file = \"PATH\" }}"
            );
        };
        match (env, file) {
            (Some(variable), None) => std::env::var(variable)
                .ok()
                .filter(|value| !value.is_empty())
                .with_context(|| format!("{what}: environment variable {variable} is not set")),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("{what}: cannot read {}", path.display()))?;
                let secret = text.trim_end_matches(['\r', '\n']).to_owned();
                if secret.is_empty() {
                    bail!("{what}: {} is empty", path.display());
                }
                Ok(secret)
            }
            _ => bail!("{what}: give exactly one of env = \"VARIABLE\" or file = \"PATH\""),
        }
    }
}

impl ApplyArgs {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        let desired = read_desired(&self.file)?;
        // One call: the plan printed is the plan carried out (or, with --dry-run, only planned).
        let applied = backend.apply(desired, self.prune, self.dry_run).await?;
        if applied.changes.is_empty() {
            println!("no changes: the store matches {}", self.file.display());
            return Ok(());
        }
        for change in &applied.changes {
            println!("{change}");
        }
        if self.dry_run {
            println!("dry run: nothing changed");
            return Ok(());
        }
        println!("applied {} change(s)", applied.changes.len());
        for generated in applied.generated_secrets {
            println!(
                "client_secret of {}: {}",
                generated.client_id, generated.client_secret
            );
        }
        Ok(())
    }
}

/// The file as a desired state, its secrets read.
///
/// # Errors
/// Unreadable or invalid files (naming the key), and secrets that cannot be read.
pub fn read_desired(path: &Path) -> anyhow::Result<DesiredState> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: DesiredFile =
        toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
    let roles = file
        .roles
        .into_iter()
        .map(|entry| {
            Role::new(&entry.name, entry.scopes, entry.description)
                .with_context(|| format!("role `{}`", entry.name))
        })
        .collect::<anyhow::Result<_>>()?;
    let clients = file
        .clients
        .into_iter()
        .map(desired_client)
        .collect::<anyhow::Result<_>>()?;
    let users = file
        .users
        .into_iter()
        .map(desired_user)
        .collect::<anyhow::Result<_>>()?;
    Ok(DesiredState {
        roles,
        clients,
        users,
    })
}

fn desired_client(entry: ClientEntry) -> anyhow::Result<DesiredClient> {
    let kind = match entry.kind.as_str() {
        "confidential" => ClientKind::Confidential,
        "public" => ClientKind::Public,
        other => bail!(
            "client `{}`: kind `{other}`: use confidential or public",
            entry.id
        ),
    };
    let id_token_algorithm = entry
        .id_token_algorithm
        .map(|name| {
            name.parse()
                .map_err(|_| anyhow::anyhow!("client `{}`: unknown algorithm `{name}`", entry.id))
        })
        .transpose()?;
    let request_object_signing_alg = entry
        .request_object_signing_alg
        .as_deref()
        .map(|name| {
            name.parse()
                .map_err(|error| anyhow::anyhow!("client `{}`: {error}", entry.id))
        })
        .transpose()?;
    let secret = entry
        .secret
        .map(|source| source.read(&format!("secret of client `{}`", entry.id)))
        .transpose()?;
    let keys = ClientKeys::from_metadata(
        entry.jwks.map(|jwks| jwks.to_string()).as_deref(),
        entry.jwks_uri.as_deref(),
    )
    .map_err(|error| anyhow::anyhow!("client `{}`: {error}", entry.id))?;
    Ok(DesiredClient {
        registration: ClientRegistration {
            id: entry.id,
            kind,
            grant_types: entry.grant_types,
            redirect_uris: entry.redirect_uris,
            scopes: entry.scopes,
            audiences: entry.audiences,
            access_token_lifetime_secs: entry.access_token_lifetime_secs,
            first_party: entry.first_party,
            post_logout_redirect_uris: entry.post_logout_redirect_uris,
            id_token_algorithm,
            keys,
            dpop_bound_access_tokens: entry.dpop_bound_access_tokens,
            backchannel_logout_uri: entry.backchannel_logout_uri,
            require_mfa: entry.require_mfa,
            require_pushed_authorization_requests: entry.require_pushed_authorization_requests,
            client_name: entry.client_name.clone(),
            request_uris: entry.request_uris,
            request_object_signing_alg,
        },
        secret,
    })
}

fn desired_user(entry: UserEntry) -> anyhow::Result<DesiredUser> {
    let what = |field: &str| format!("{field} of user `{}`", entry.username);
    let password = match (&entry.password, &entry.password_hash) {
        (Some(source), None) => InitialPassword::Plain(source.read(&what("password"))?),
        (None, Some(source)) => InitialPassword::Hash(source.read(&what("password_hash"))?),
        (None, None) => InitialPassword::Unusable,
        (Some(_), Some(_)) => bail!(
            "user `{}`: give password or password_hash, not both",
            entry.username
        ),
    };
    Ok(DesiredUser {
        username: entry.username,
        roles: entry.roles,
        email: entry.email,
        email_verified: entry.email_verified,
        password,
    })
}
