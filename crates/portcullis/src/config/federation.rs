//! `[federation]`: signing in through upstream identity providers (`[[federation.providers]]`).
//! A provider's secret may come from `PORTCULLIS_FEDERATION_<ID>_CLIENT_SECRET` (the id upper-cased,
//! `-` as `_`).

use super::secret::Secret;
use anyhow::bail;
use portcullis_auth::federation::{FederationSettings, UpstreamProtocol, UpstreamSettings};
use portcullis_core::federation::{AccountPolicy, ClaimMapping, RoleRule};
use portcullis_sdk::client::OAuthEndpoints;
use serde::Deserialize;

/// `[federation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Whether the sign-in page offers the username and password form too.
    pub local_sign_in: bool,
    /// The providers, in the order of their buttons.
    pub providers: Vec<ProviderConfig>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            local_sign_in: true,
            providers: Vec::new(),
        }
    }
}

/// `[[federation.providers]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Its id in URLs (`[a-z0-9-]`, at most 32).
    pub id: String,
    /// The name on its button.
    pub name: String,
    /// `oidc` (found by `issuer`) or `oauth2` (the three endpoints).
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// The issuer identifier (required for `oidc`; for `oauth2`, the `iss` its redirects carry).
    pub issuer: Option<String>,
    /// `oauth2`: the authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// `oauth2`: the token endpoint.
    pub token_endpoint: Option<String>,
    /// `oauth2`: the profile URL read with the access token.
    pub userinfo_endpoint: Option<String>,
    /// This server's client id there.
    pub client_id: String,
    /// Its secret there; unset for a public client (PKCE alone).
    pub client_secret: Option<Secret>,
    /// The scopes asked for; by default `openid profile email` (`oidc`) or none (`oauth2`).
    pub scopes: Option<String>,
    /// `create` (a first sign-in makes an account) or `existing` (only linked accounts).
    #[serde(default = "default_accounts")]
    pub accounts: String,
    /// An address this provider verified links to the account that has it verified.
    #[serde(default)]
    pub link_by_verified_email: bool,
    /// The claim naming the user at the provider.
    #[serde(default = "default_subject_claim")]
    pub subject_claim: String,
    /// The claim proposed as a new account's username.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The address claim.
    #[serde(default = "default_email_claim")]
    pub email_claim: String,
    /// The claim saying the provider verified the address.
    #[serde(default = "default_email_verified_claim")]
    pub email_verified_claim: String,
    /// Roles granted to new accounts by their claims.
    #[serde(default)]
    pub roles: Vec<RoleRuleConfig>,
}

/// `[[federation.providers.roles]]`: `role` for accounts whose `claim` is (or contains) `value`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRuleConfig {
    /// The claim, dotted for nested objects.
    pub claim: String,
    /// The value.
    pub value: String,
    /// The local role.
    pub role: String,
}

fn default_protocol() -> String {
    "oidc".to_owned()
}
fn default_accounts() -> String {
    "create".to_owned()
}
fn default_subject_claim() -> String {
    ClaimMapping::default().subject
}
fn default_username_claim() -> String {
    ClaimMapping::default().username
}
fn default_email_claim() -> String {
    ClaimMapping::default().email
}
fn default_email_verified_claim() -> String {
    ClaimMapping::default().email_verified
}

/// The environment variable that may hold provider `id`'s client secret.
pub fn secret_variable(id: &str) -> String {
    format!(
        "PORTCULLIS_FEDERATION_{}_CLIENT_SECRET",
        id.to_ascii_uppercase().replace('-', "_")
    )
}

fn url(what: &str, value: Option<&String>) -> anyhow::Result<String> {
    let Some(value) = value else {
        bail!("{what} is required");
    };
    match url::Url::parse(value) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => Ok(value.clone()),
        _ => bail!("{what} must be an http(s) URL"),
    }
}

impl FederationConfig {
    /// The settings this section describes.
    ///
    /// # Errors
    /// A provider id that is invalid or repeated, a protocol without its URLs, an unknown
    /// `accounts` value, or no way to sign in at all.
    pub fn settings(&self) -> anyhow::Result<FederationSettings> {
        let mut providers: Vec<UpstreamSettings> = Vec::new();
        for provider in &self.providers {
            let id = &provider.id;
            let valid_id = (1..=32).contains(&id.len())
                && id
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
            if !valid_id {
                bail!("federation.providers: id `{id}` must be 1 to 32 of a-z, 0-9 and -");
            }
            if providers.iter().any(|other| other.id == *id) {
                bail!("federation.providers: id `{id}` is used twice");
            }
            let what = |field: &str| format!("federation.providers `{id}`: {field}");
            if provider.name.trim().is_empty() || provider.client_id.is_empty() {
                bail!("{}", what("name and client_id are required"));
            }
            let (protocol, default_scopes) = match provider.protocol.as_str() {
                "oidc" => (
                    UpstreamProtocol::OpenIdConnect {
                        issuer: url(&what("issuer"), provider.issuer.as_ref())?,
                    },
                    "openid profile email",
                ),
                "oauth2" => (
                    UpstreamProtocol::OAuth2(OAuthEndpoints {
                        issuer: provider.issuer.clone(),
                        authorization_endpoint: url(
                            &what("authorization_endpoint"),
                            provider.authorization_endpoint.as_ref(),
                        )?,
                        token_endpoint: url(
                            &what("token_endpoint"),
                            provider.token_endpoint.as_ref(),
                        )?,
                        userinfo_endpoint: url(
                            &what("userinfo_endpoint"),
                            provider.userinfo_endpoint.as_ref(),
                        )?,
                    }),
                    "",
                ),
                other => bail!(
                    "{}",
                    what(&format!("protocol `{other}` is not oidc or oauth2"))
                ),
            };
            let accounts = match provider.accounts.as_str() {
                "create" => AccountPolicy::Create,
                "existing" => AccountPolicy::ExistingOnly,
                other => bail!(
                    "{}",
                    what(&format!("accounts `{other}` is not create or existing"))
                ),
            };
            providers.push(UpstreamSettings {
                id: id.clone(),
                display_name: provider.name.trim().to_owned(),
                protocol,
                client_id: provider.client_id.clone(),
                client_secret: provider
                    .client_secret
                    .as_ref()
                    .map(|secret| secret.expose().to_owned()),
                scopes: provider
                    .scopes
                    .clone()
                    .unwrap_or_else(|| default_scopes.to_owned()),
                claims: ClaimMapping {
                    subject: provider.subject_claim.clone(),
                    username: provider.username_claim.clone(),
                    email: provider.email_claim.clone(),
                    email_verified: provider.email_verified_claim.clone(),
                },
                role_rules: provider
                    .roles
                    .iter()
                    .map(|rule| RoleRule {
                        claim: rule.claim.clone(),
                        value: rule.value.clone(),
                        role: rule.role.clone(),
                    })
                    .collect(),
                accounts,
                link_by_verified_email: provider.link_by_verified_email,
            });
        }
        if !self.local_sign_in && providers.is_empty() {
            bail!("federation.local_sign_in = false needs at least one provider");
        }
        Ok(FederationSettings {
            providers,
            local_sign_in: self.local_sign_in,
        })
    }

    /// Fills each provider's secret from its environment variable, when set there.
    pub fn apply_secret_variables(&mut self, env: &[(String, String)]) {
        for provider in &mut self.providers {
            let name = secret_variable(&provider.id);
            if let Some((_, value)) = env.iter().find(|(key, _)| *key == name) {
                provider.client_secret = Some(Secret::new(value.clone()));
            }
        }
    }
}
