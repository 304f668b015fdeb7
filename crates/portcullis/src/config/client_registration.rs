//! `[client_registration]`: dynamic client registration (RFC 7591).

use anyhow::{Context, bail};
use portcullis_core::client_metadata::{DynamicRegistrationMode, DynamicRegistrationPolicy};
use portcullis_types::GrantType;
use serde::Deserialize;

/// `[client_registration]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientRegistrationConfig {
    /// `off`, `open`, or `token` (an initial access token with scope `portcullis:register`).
    pub mode: String,
    /// Grant types a registered client may ask for.
    pub grant_types: Vec<String>,
    /// Scopes a registered client may ask for (all of them when it names none).
    pub scopes: Vec<String>,
    /// Audiences every registered client gets.
    pub audiences: Vec<String>,
    /// Most self-registered clients kept at once.
    pub max_clients: u64,
    /// Resolve `client_id`s that are https URLs by fetching their Client ID Metadata Document.
    pub metadata_documents: bool,
    /// Hosts metadata documents are taken from (`*.example.com` for subdomains); empty: any.
    pub metadata_document_hosts: Vec<String>,
}

impl Default for ClientRegistrationConfig {
    fn default() -> Self {
        let policy = DynamicRegistrationPolicy::default();
        ClientRegistrationConfig {
            mode: "off".to_owned(),
            grant_types: policy
                .grant_types
                .iter()
                .map(|grant| grant.as_str().to_owned())
                .collect(),
            scopes: policy.scopes,
            audiences: policy.audiences,
            max_clients: policy.max_clients,
            metadata_documents: policy.metadata_documents,
            metadata_document_hosts: policy.metadata_document_hosts,
        }
    }
}

impl ClientRegistrationConfig {
    /// The policy this section describes, for the server `issuer`.
    ///
    /// # Errors
    /// An unknown mode or grant type, a scope or audience that cannot be one, or one that would
    /// hand strangers the server's own powers: `portcullis:*` scopes, the issuer as audience,
    /// or (in `open` mode) grants without a user.
    pub fn policy(&self, issuer: &str) -> anyhow::Result<DynamicRegistrationPolicy> {
        let mode = match self.mode.as_str() {
            "off" => DynamicRegistrationMode::Off,
            "open" => DynamicRegistrationMode::Open,
            "token" => DynamicRegistrationMode::Token,
            other => {
                bail!("client_registration.mode must be `off`, `open` or `token`, not `{other}`")
            }
        };
        let grant_types = self
            .grant_types
            .iter()
            .map(|name| {
                name.parse::<GrantType>()
                    .with_context(|| format!("client_registration.grant_types: `{name}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for value in self.scopes.iter().chain(&self.audiences) {
            if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("client_registration: `{value}` cannot be a scope or an audience");
            }
        }
        if let Some(scope) = self
            .scopes
            .iter()
            .find(|scope| scope.starts_with("portcullis:"))
        {
            bail!("client_registration.scopes: `{scope}` is the server's own; not for strangers");
        }
        if self.audiences.iter().any(|audience| audience == issuer) {
            bail!("client_registration.audiences: the issuer (its admin API) is not for strangers");
        }
        if (mode == DynamicRegistrationMode::Open || self.metadata_documents)
            && let Some(grant) = grant_types.iter().find(|grant| {
                matches!(
                    grant,
                    GrantType::ClientCredentials | GrantType::TokenExchange
                )
            })
        {
            bail!(
                "client_registration.grant_types: `{grant}` needs no user; open registration \
                 and metadata documents cannot offer it (use mode = \"token\")"
            );
        }
        if let Some(host) = self.metadata_document_hosts.iter().find(|host| {
            !portcullis_core::client_id_document::is_plain_host(
                host.strip_prefix("*.").unwrap_or(host),
            )
        }) {
            bail!(
                "client_registration.metadata_document_hosts: `{host}` is not a lower-case host \
                 name or `*.` and one"
            );
        }
        if self.max_clients == 0 {
            bail!("client_registration.max_clients must be at least 1");
        }
        Ok(DynamicRegistrationPolicy {
            mode,
            grant_types,
            scopes: self.scopes.clone(),
            audiences: self.audiences.clone(),
            max_clients: self.max_clients,
            metadata_documents: self.metadata_documents,
            metadata_document_hosts: self.metadata_document_hosts.clone(),
        })
    }
}
