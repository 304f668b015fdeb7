//! The upstream identity providers users may sign in through, as configured.

use portcullis_core::federation::{AccountPolicy, ClaimMapping, RoleRule};
use portcullis_sdk::client::OAuthEndpoints;

/// Sign-in through upstream providers.
#[derive(Debug, Clone)]
pub struct FederationSettings {
    /// The providers, in the order of their buttons.
    pub providers: Vec<UpstreamSettings>,
    /// Whether the sign-in page offers the local username and password form too.
    pub local_sign_in: bool,
}

impl Default for FederationSettings {
    fn default() -> Self {
        FederationSettings {
            providers: Vec::new(),
            local_sign_in: true,
        }
    }
}

impl FederationSettings {
    /// The provider with id `id`.
    pub fn provider(&self, id: &str) -> Option<&UpstreamSettings> {
        self.providers.iter().find(|provider| provider.id == id)
    }
}

/// How the provider is spoken to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// An OpenID provider, found by its issuer (OpenID Connect Discovery 1.0).
    OpenIdConnect {
        /// Its issuer identifier.
        issuer: String,
    },
    /// A plain OAuth 2.0 provider: the user is read from a profile URL.
    OAuth2(OAuthEndpoints),
}

/// One upstream provider.
#[derive(Clone)]
pub struct UpstreamSettings {
    /// Its id, in URLs and links (`[a-z0-9-]`).
    pub id: String,
    /// The name on its button.
    pub display_name: String,
    /// How it is spoken to.
    pub protocol: UpstreamProtocol,
    /// This server's client id there.
    pub client_id: String,
    /// This server's client secret there (`client_secret_basic`); `None` for a public client
    /// (PKCE alone).
    pub client_secret: Option<String>,
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
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UpstreamSettings")
            .field("id", &self.id)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}
