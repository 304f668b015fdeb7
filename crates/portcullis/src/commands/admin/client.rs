//! `portcullis admin client ...`

use super::backend::Backend;
use crate::commands::format_time;
use anyhow::Context;
use clap::{Args, Subcommand};
use portcullis_auth::admin_api::client_tokens::NewTokenBody;
use portcullis_auth::admin_api::clients::{ClientView, NewClientBody};
use portcullis_types::GrantType;

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once, as `client_secret: ...`.
    Add(Box<NewClientArgs>),
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
    /// Make an API key (a `pcl_pat_` token) for a service account, printed once as `token: ...`.
    AddKey(NewKeyArgs),
    /// List a service account's API keys.
    Keys {
        /// Client id.
        id: String,
    },
    /// Revoke one of a service account's API keys.
    RevokeKey {
        /// Client id.
        id: String,
        /// The key's id (`pat_...`), as `keys` lists it.
        key_id: String,
    },
}

/// What `admin client add-key` makes.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// Client id (a confidential client).
    id: String,
    /// What the key is for.
    #[arg(long)]
    name: String,
    /// Its scopes: a subset of the client's.
    #[arg(long = "scope", value_name = "SCOPE", required = true, num_args = 1.., value_delimiter = ',')]
    scopes: Vec<String>,
    /// Days it lives.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Networks it may be used from (addresses, CIDR ranges); none: any.
    #[arg(long = "network", value_name = "CIDR", num_args = 1.., value_delimiter = ',')]
    networks: Vec<String>,
}

/// What `admin client add` registers.
#[derive(Debug, Args)]
pub struct NewClientArgs {
    /// Client id.
    id: String,
    /// A public client (native or browser app): no secret; PKCE required.
    #[arg(long)]
    public: bool,
    /// Allowed grant types: client_credentials, authorization_code, refresh_token,
    /// urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange.
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
    /// A file holding the client's public keys (a JWK Set): it authenticates with
    /// private_key_jwt and gets no secret.
    #[arg(long, value_name = "PATH", conflicts_with = "jwks_uri")]
    jwks_file: Option<std::path::PathBuf>,
    /// An https URL serving the client's public keys (private_key_jwt, no secret).
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449).
    #[arg(long)]
    dpop_bound: bool,
    /// Where logout tokens are delivered (OpenID Connect Back-Channel Logout).
    #[arg(long, value_name = "URL")]
    backchannel_logout_uri: Option<String>,
    /// Users must sign in with a second factor to authorize this client.
    #[arg(long)]
    require_mfa: bool,
    /// Take this client's authorization requests only when pushed (RFC 9126).
    #[arg(long)]
    require_par: bool,
    /// A URL its request objects may be fetched from by reference (RFC 9101 §5.2).
    #[arg(long = "request-uri", value_name = "URL")]
    request_uris: Vec<String>,
    /// How its request objects must be signed: `none` (unsigned taken) or an algorithm.
    #[arg(long, value_name = "ALG")]
    request_object_signing_alg: Option<String>,
}

impl ClientCommand {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        match self {
            ClientCommand::Add(arguments) => {
                let NewClientArgs {
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
                    jwks_file,
                    jwks_uri,
                    dpop_bound,
                    backchannel_logout_uri,
                    require_mfa,
                    require_par,
                    request_uris,
                    request_object_signing_alg,
                } = *arguments;
                let jwks = jwks_file
                    .map(|path| -> anyhow::Result<serde_json::Value> {
                        let text = std::fs::read_to_string(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        serde_json::from_str(&text)
                            .with_context(|| format!("{} is not JSON", path.display()))
                    })
                    .transpose()?;
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
                        jwks,
                        jwks_uri,
                        dpop_bound_access_tokens: dpop_bound,
                        backchannel_logout_uri,
                        require_mfa,
                        require_pushed_authorization_requests: require_par,
                        client_name: None,
                        request_uris,
                        request_object_signing_alg,
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
            ClientCommand::AddKey(args) => {
                let body = NewTokenBody {
                    name: args.name,
                    scope: args.scopes.join(" "),
                    expires_in_days: args.days,
                    networks: args.networks,
                };
                let created = backend.create_client_key(&args.id, body).await?;
                println!(
                    "made key {} of {} ({}), expires {}",
                    created.key.id,
                    args.id,
                    created.key.scope,
                    format_time(created.key.expires_at)
                );
                println!("token: {}", created.token);
            }
            ClientCommand::Keys { id } => {
                for key in backend.client_keys(&id).await? {
                    println!(
                        "{}  {}  {}  expires {}  {}",
                        key.id,
                        key.name,
                        key.scope,
                        format_time(key.expires_at),
                        key.last_used_at
                            .map_or("never used".to_owned(), |at| format!(
                                "last used {}",
                                format_time(at)
                            ))
                    );
                }
            }
            ClientCommand::RevokeKey { id, key_id } => {
                backend.revoke_client_key(&id, &key_id).await?;
                println!("revoked key {key_id} of {id}");
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
    println!("authenticates:  {}", client.token_endpoint_auth_method);
    if let Some(uri) = &client.jwks_uri {
        println!("jwks_uri:       {uri}");
    }
    if let Some(jwks) = &client.jwks {
        let kids: Vec<&str> = jwks
            .keys
            .iter()
            .filter_map(|key| key.kid.as_deref())
            .collect();
        println!("keys:           {}", kids.join(" "));
    }
    if client.dpop_bound_access_tokens {
        println!("DPoP:           required");
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        println!("back-channel:   {uri}");
    }
    if client.require_mfa {
        println!("second factor:  required");
    }
    if let Some(name) = &client.client_name {
        println!("name:           {name}");
    }
    if client.self_registered {
        println!("registered:     by itself (RFC 7591)");
    }
    if client.require_pushed_authorization_requests {
        println!("PAR:            required");
    }
    if let Some(alg) = &client.request_object_signing_alg {
        println!("request objects: {alg}");
    }
    for uri in &client.request_uris {
        println!("request_uri:    {uri}");
    }
    println!("created:        {}", format_time(client.created_at));
}
