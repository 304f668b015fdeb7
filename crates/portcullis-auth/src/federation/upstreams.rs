//! The configured providers as relying parties: an OpenID provider's metadata is read on first
//! use and kept; a failed read is retried at the next sign-in, so a provider that was down at
//! startup works once it is back.

use super::settings::{FederationSettings, UpstreamProtocol, UpstreamSettings};
use portcullis_sdk::client::{ClientConfig, ClientError, RelyingParty};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a request to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Every configured provider.
#[derive(Debug, Default)]
pub struct Upstreams {
    providers: Vec<Upstream>,
}

/// One provider and its relying party, once known.
pub struct Upstream {
    /// What was configured.
    pub settings: UpstreamSettings,
    redirect_uri: String,
    http: reqwest::Client,
    relying_party: Mutex<Option<Arc<RelyingParty>>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Upstream")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Upstreams {
    /// The providers of `settings`, called back at `{issuer}/federation/<id>/callback`.
    ///
    /// # Errors
    /// When no HTTP client can be built.
    pub fn new(settings: &FederationSettings, issuer: &str) -> Result<Self, reqwest::Error> {
        // Redirects would carry codes and the client secret elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .user_agent("Portcullis")
            .build()?;
        let issuer = issuer.trim_end_matches('/');
        let providers = settings
            .providers
            .iter()
            .map(|provider| Upstream {
                redirect_uri: format!("{issuer}{}", super::callback_path(&provider.id)),
                settings: provider.clone(),
                http: http.clone(),
                relying_party: Mutex::new(None),
            })
            .collect();
        Ok(Upstreams { providers })
    }

    /// The providers, in the order of their buttons.
    pub fn all(&self) -> &[Upstream] {
        &self.providers
    }

    /// The provider with id `id`.
    pub fn get(&self, id: &str) -> Option<&Upstream> {
        self.providers
            .iter()
            .find(|provider| provider.settings.id == id)
    }
}

impl Upstream {
    /// The relying party of this provider: its metadata read now if not yet.
    ///
    /// # Errors
    /// [`ClientError::Provider`] or [`ClientError::IssuerMismatch`] while the provider cannot
    /// be used.
    pub async fn relying_party(&self) -> Result<Arc<RelyingParty>, ClientError> {
        if let Some(known) = self.cached() {
            return Ok(known);
        }
        let client = ClientConfig {
            client_id: self.settings.client_id.clone(),
            client_secret: self.settings.client_secret.clone(),
            redirect_uri: self.redirect_uri.clone(),
        };
        let relying_party = Arc::new(match &self.settings.protocol {
            UpstreamProtocol::OpenIdConnect { issuer } => {
                RelyingParty::discover_with(issuer, client, self.http.clone()).await?
            }
            UpstreamProtocol::OAuth2(endpoints) => {
                RelyingParty::from_endpoints(endpoints, client, self.http.clone())?
            }
        });
        if let Ok(mut slot) = self.relying_party.lock() {
            *slot = Some(relying_party.clone());
        }
        Ok(relying_party)
    }

    fn cached(&self) -> Option<Arc<RelyingParty>> {
        self.relying_party.lock().ok().and_then(|slot| slot.clone())
    }

    /// Whether the provider speaks OpenID Connect (its answer must carry an id token).
    pub fn is_openid(&self) -> bool {
        matches!(
            self.settings.protocol,
            UpstreamProtocol::OpenIdConnect { .. }
        )
    }
}
