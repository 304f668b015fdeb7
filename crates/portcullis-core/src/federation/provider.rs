//! An upstream identity provider as written (the configuration file, the admin API) and as
//! validated: how it is spoken to, this server's client there, and what its identities may do.

use super::{AccountPolicy, ClaimMapping, RoleRule};
use serde::{Deserialize, Serialize};

/// How a provider is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderProtocol {
    /// An OpenID provider, found by its issuer (OpenID Connect Discovery 1.0).
    OpenIdConnect {
        /// Its issuer identifier.
        issuer: String,
    },
    /// A plain OAuth 2.0 provider (GitHub style): the user is read from a profile URL.
    OAuth2 {
        /// Its issuer identifier, if it has one (the RFC 9207 `iss` of its redirects).
        issuer: Option<String>,
        /// The authorization endpoint.
        authorization_endpoint: String,
        /// The token endpoint.
        token_endpoint: String,
        /// The profile URL read with the access token.
        userinfo_endpoint: String,
    },
}

/// One upstream provider, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its id, in URLs and links (`[a-z0-9-]`, at most 32).
    pub id: String,
    /// The name on its button.
    pub display_name: String,
    /// How it is spoken to.
    pub protocol: ProviderProtocol,
    /// This server's client id there.
    pub client_id: String,
    /// This server's client secret there (`client_secret_basic`); `None` for a public client
    /// (PKCE alone) or one authenticating with `private_key_jwt`.
    pub client_secret: Option<String>,
    /// Authenticate with `private_key_jwt` assertions signed by this server's key (RFC 7523).
    pub private_key_jwt: bool,
    /// The scopes asked for.
    pub scopes: String,
    /// Which claims name the subject, username and address.
    pub claims: ClaimMapping,
    /// Roles granted to new accounts by their claims.
    pub role_rules: Vec<RoleRule>,
    /// Whether a first sign-in creates an account.
    pub accounts: AccountPolicy,
    /// Whether an address this provider verified links to the account that has it verified.
    pub link_by_verified_email: bool,
    /// Whether signing out here also signs out at the provider (RP-Initiated Logout 1.0).
    pub upstream_logout: bool,
    /// Address domains whose users belong to this provider (home realm discovery), lowercase.
    pub domains: Vec<String>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Provider")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A role rule as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRuleSpec {
    /// The claim, dotted for nested objects.
    pub claim: String,
    /// The value it must have or contain.
    pub value: String,
    /// The local role.
    pub role: String,
}

/// A provider as written: flat, as in `[[federation.providers]]`. The secret is never written
/// back out (`Serialize` skips it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// Its id in URLs (`[a-z0-9-]`, at most 32).
    pub id: String,
    /// The name on its button.
    pub name: String,
    /// `oidc` (found by `issuer`) or `oauth2` (the three endpoints).
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// The issuer identifier (required for `oidc`; for `oauth2`, the `iss` its redirects carry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `oauth2`: the authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// `oauth2`: the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// `oauth2`: the profile URL read with the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// This server's client id there.
    pub client_id: String,
    /// Its secret there; unset for a public client (PKCE alone) or with `private_key_jwt`.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// Authenticate there with assertions signed by this server's key (RFC 7523).
    #[serde(default)]
    pub private_key_jwt: bool,
    /// The scopes asked for; by default `openid profile email` (`oidc`) or none (`oauth2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub roles: Vec<RoleRuleSpec>,
    /// Signing out here also signs out at the provider (RP-Initiated Logout 1.0).
    #[serde(default)]
    pub upstream_logout: bool,
    /// Address domains whose users belong to this provider: a `login_hint` in one goes there.
    #[serde(default)]
    pub domains: Vec<String>,
}

impl std::fmt::Debug for ProviderSpec {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ProviderSpec")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The protocol of a provider written without one.
pub const DEFAULT_PROTOCOL: &str = "oidc";
/// What a provider written without `accounts` lets new identities do.
pub const DEFAULT_ACCOUNTS: &str = "create";

fn default_protocol() -> String {
    DEFAULT_PROTOCOL.to_owned()
}
fn default_accounts() -> String {
    DEFAULT_ACCOUNTS.to_owned()
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

/// Why a provider as written cannot be used, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ProviderError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ProviderError {
    ProviderError {
        field,
        message: message.into(),
    }
}

/// `value` as an http(s) URL.
fn url(field: &'static str, value: Option<&String>) -> Result<String, ProviderError> {
    let Some(value) = value else {
        return Err(invalid(field, "is required"));
    };
    match url::Url::parse(value) {
        Ok(parsed) if matches!(parsed.scheme(), "https" | "http") && parsed.host().is_some() => {
            Ok(value.clone())
        }
        _ => Err(invalid(field, "must be an http(s) URL")),
    }
}

/// Whether `id` may name a provider.
fn valid_provider_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
}

impl ProviderSpec {
    /// An OpenID provider `id` named `name` at `issuer`, where this server is `client_id`;
    /// every other field as a file that leaves it out.
    pub fn oidc(id: &str, name: &str, issuer: &str, client_id: &str) -> ProviderSpec {
        ProviderSpec {
            id: id.to_owned(),
            name: name.to_owned(),
            protocol: default_protocol(),
            issuer: Some(issuer.to_owned()),
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            client_id: client_id.to_owned(),
            client_secret: None,
            private_key_jwt: false,
            scopes: None,
            accounts: default_accounts(),
            link_by_verified_email: false,
            subject_claim: default_subject_claim(),
            username_claim: default_username_claim(),
            email_claim: default_email_claim(),
            email_verified_claim: default_email_verified_claim(),
            roles: Vec::new(),
            upstream_logout: false,
            domains: Vec::new(),
        }
    }

    /// The provider this describes.
    ///
    /// # Errors
    /// [`ProviderError`] naming the first field at fault.
    pub fn validate(&self) -> Result<Provider, ProviderError> {
        if !valid_provider_id(&self.id) {
            return Err(invalid("id", "must be 1 to 32 of a-z, 0-9 and -"));
        }
        let name = self.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        if self.client_id.is_empty() || self.client_id.len() > 255 {
            return Err(invalid("client_id", "must be 1 to 255 characters"));
        }
        let (protocol, default_scopes) = match self.protocol.as_str() {
            "oidc" => (
                ProviderProtocol::OpenIdConnect {
                    issuer: url("issuer", self.issuer.as_ref())?,
                },
                "openid profile email",
            ),
            "oauth2" => (
                ProviderProtocol::OAuth2 {
                    issuer: self.issuer.clone(),
                    authorization_endpoint: url(
                        "authorization_endpoint",
                        self.authorization_endpoint.as_ref(),
                    )?,
                    token_endpoint: url("token_endpoint", self.token_endpoint.as_ref())?,
                    userinfo_endpoint: url("userinfo_endpoint", self.userinfo_endpoint.as_ref())?,
                },
                "",
            ),
            _ => return Err(invalid("protocol", "must be oidc or oauth2")),
        };
        let accounts = match self.accounts.as_str() {
            "create" => AccountPolicy::Create,
            "existing" => AccountPolicy::ExistingOnly,
            _ => return Err(invalid("accounts", "must be create or existing")),
        };
        if self.private_key_jwt && self.client_secret.is_some() {
            return Err(invalid(
                "private_key_jwt",
                "excludes client_secret: the provider knows this server by its keys",
            ));
        }
        let domains: Vec<String> = self
            .domains
            .iter()
            .map(|domain| domain.trim().to_ascii_lowercase())
            .collect();
        let domain_name = |domain: &String| {
            !domain.is_empty()
                && domain.len() <= 253
                && domain
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-')
        };
        if !domains.iter().all(domain_name) {
            return Err(invalid("domains", "must be domain names"));
        }
        let role_rules = self
            .roles
            .iter()
            .map(|rule| {
                crate::user::validate_role(&rule.role)
                    .is_ok()
                    .then(|| RoleRule {
                        claim: rule.claim.clone(),
                        value: rule.value.clone(),
                        role: rule.role.clone(),
                    })
                    .ok_or_else(|| invalid("roles", format!("`{}` is not a role name", rule.role)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Provider {
            id: self.id.clone(),
            display_name: name.to_owned(),
            protocol,
            client_id: self.client_id.clone(),
            client_secret: self
                .client_secret
                .clone()
                .filter(|secret| !secret.is_empty()),
            private_key_jwt: self.private_key_jwt,
            scopes: self
                .scopes
                .clone()
                .unwrap_or_else(|| default_scopes.to_owned()),
            claims: ClaimMapping {
                subject: self.subject_claim.clone(),
                username: self.username_claim.clone(),
                email: self.email_claim.clone(),
                email_verified: self.email_verified_claim.clone(),
            },
            role_rules,
            accounts,
            link_by_verified_email: self.link_by_verified_email,
            upstream_logout: self.upstream_logout,
            domains,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_like: serde_json::Value) -> ProviderSpec {
        serde_json::from_value(toml_like).expect("spec")
    }

    #[test]
    fn a_written_provider_is_validated_and_its_secret_never_written_back() {
        let written = spec(serde_json::json!({
            "id": "corp", "name": " Corp ", "issuer": "https://sso.corp.example",
            "client_id": "portcullis", "client_secret": "s3cret",
            "roles": [{"claim": "groups", "value": "admins", "role": "admin"}],
            "domains": ["Corp.Example"],
        }));
        let provider = written.validate().expect("valid");
        assert_eq!(provider.display_name, "Corp");
        assert_eq!(provider.scopes, "openid profile email");
        assert_eq!(provider.domains, ["corp.example"]);
        assert_eq!(provider.client_secret.as_deref(), Some("s3cret"));
        let echoed = serde_json::to_string(&written).expect("json");
        assert!(!echoed.contains("s3cret"), "{echoed}");
        assert!(!format!("{written:?} {provider:?}").contains("s3cret"));
    }

    #[test]
    fn every_defect_names_its_field() {
        let base = serde_json::json!({"id": "hub", "name": "Hub", "protocol": "oauth2",
            "authorization_endpoint": "https://hub.example/authorize",
            "token_endpoint": "https://hub.example/token",
            "userinfo_endpoint": "https://api.hub.example/user", "client_id": "c"});
        assert!(spec(base.clone()).validate().is_ok());
        for (field, value, named) in [
            ("id", serde_json::json!("Hub!"), "id"),
            ("name", serde_json::json!(" "), "name"),
            ("protocol", serde_json::json!("saml"), "protocol"),
            (
                "token_endpoint",
                serde_json::json!("ftp://x"),
                "token_endpoint",
            ),
            ("accounts", serde_json::json!("some"), "accounts"),
            ("domains", serde_json::json!(["a b"]), "domains"),
            (
                "roles",
                serde_json::json!([{"claim": "g", "value": "v", "role": "Bad Role"}]),
                "roles",
            ),
        ] {
            let mut broken = base.clone();
            broken[field] = value;
            assert_eq!(
                spec(broken)
                    .validate()
                    .map(drop)
                    .map_err(|error| error.field),
                Err(named)
            );
        }
        let mut both = base.clone();
        both["private_key_jwt"] = serde_json::json!(true);
        both["client_secret"] = serde_json::json!("s");
        assert_eq!(
            spec(both).validate().map(drop).map_err(|error| error.field),
            Err("private_key_jwt")
        );
        let mut no_issuer = base;
        no_issuer["protocol"] = serde_json::json!("oidc");
        assert_eq!(
            spec(no_issuer)
                .validate()
                .map(drop)
                .map_err(|error| error.field),
            Err("issuer")
        );
    }
}
