//! The providers users may sign in through, as relying parties: those of the configuration file,
//! then those added through the admin API (reloaded from the store after each change and
//! periodically, so every server of a cluster follows). An OpenID provider's metadata is read on
//! first use and kept while the provider is unchanged; a failed read is retried at the next
//! sign-in, so a provider that was down works once it is back.

use portcullis_core::federation::{Provider, ProviderProtocol};
use portcullis_sdk::client::{
    AssertionSigner, ClientConfig, ClientError, OAuthEndpoints, RelyingParty,
};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long a request to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Every provider.
pub struct Upstreams {
    configured: Vec<Provider>,
    /// Held across a reload's read of the store and its swap, so an older read never replaces
    /// a newer one (a deleted provider coming back).
    reloading: tokio::sync::Mutex<()>,
    current: RwLock<Arc<Vec<Arc<Upstream>>>>,
    issuer: String,
    http: reqwest::Client,
    signer: Arc<dyn AssertionSigner>,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Upstreams")
            .field("providers", &self.all().len())
            .finish_non_exhaustive()
    }
}

/// One provider and its relying party, once known.
pub struct Upstream {
    /// What was configured.
    pub settings: Provider,
    /// Whether it came through the admin API (not the configuration file).
    pub managed: bool,
    redirect_uri: String,
    http: reqwest::Client,
    /// Signs `private_key_jwt` assertions, when the provider is configured for them.
    signer: Option<Arc<dyn AssertionSigner>>,
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
    /// The providers of the configuration file, called back at
    /// `{issuer}/federation/<id>/callback`; those authenticating with `private_key_jwt` sign
    /// with `signer`.
    ///
    /// # Errors
    /// When no HTTP client can be built.
    pub fn new(
        configured: &[Provider],
        issuer: &str,
        signer: Arc<dyn AssertionSigner>,
    ) -> Result<Self, reqwest::Error> {
        // Redirects would carry codes and the client secret elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .user_agent("Portcullis")
            .build()?;
        let upstreams = Upstreams {
            configured: configured.to_vec(),
            reloading: tokio::sync::Mutex::new(()),
            current: RwLock::new(Arc::new(Vec::new())),
            issuer: issuer.trim_end_matches('/').to_owned(),
            http,
            signer,
        };
        upstreams.set_managed(Vec::new());
        Ok(upstreams)
    }

    /// The providers now, in the order of their buttons.
    pub fn all(&self) -> Arc<Vec<Arc<Upstream>>> {
        self.current
            .read()
            .map(|current| current.clone())
            .unwrap_or_default()
    }

    /// The provider with id `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Upstream>> {
        self.all()
            .iter()
            .find(|provider| provider.settings.id == id)
            .cloned()
    }

    /// Held while the providers of the admin API are read and set: one reload at a time.
    pub async fn reload_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.reloading.lock().await
    }

    /// Whether `id` is a provider of the configuration file (the admin API cannot change it).
    pub fn is_configured(&self, id: &str) -> bool {
        self.configured.iter().any(|provider| provider.id == id)
    }

    /// Sets the providers of the admin API (after the file's; one of a file provider's id is
    /// ignored). A provider that did not change keeps what it learned (its metadata).
    pub fn set_managed(&self, managed: Vec<Provider>) {
        let before = self.all();
        let keep = |settings: &Provider, is_managed: bool| {
            before
                .iter()
                .find(|known| known.settings == *settings && known.managed == is_managed)
                .cloned()
        };
        let mut next: Vec<Arc<Upstream>> = Vec::new();
        for provider in &self.configured {
            next.push(keep(provider, false).unwrap_or_else(|| self.upstream(provider, false)));
        }
        for provider in managed {
            if self.is_configured(&provider.id) {
                continue;
            }
            next.push(keep(&provider, true).unwrap_or_else(|| self.upstream(&provider, true)));
        }
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(next);
        }
    }

    fn upstream(&self, provider: &Provider, managed: bool) -> Arc<Upstream> {
        Arc::new(Upstream {
            redirect_uri: format!("{}{}", self.issuer, super::callback_path(&provider.id)),
            settings: provider.clone(),
            managed,
            http: self.http.clone(),
            signer: provider.private_key_jwt.then(|| self.signer.clone()),
            relying_party: Mutex::new(None),
        })
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
        let relying_party = match &self.settings.protocol {
            ProviderProtocol::OpenIdConnect { issuer } => {
                RelyingParty::discover_with(issuer, client, self.http.clone()).await?
            }
            ProviderProtocol::OAuth2 {
                issuer,
                authorization_endpoint,
                token_endpoint,
                userinfo_endpoint,
            } => {
                let endpoints = OAuthEndpoints {
                    issuer: issuer.clone(),
                    authorization_endpoint: authorization_endpoint.clone(),
                    token_endpoint: token_endpoint.clone(),
                    userinfo_endpoint: userinfo_endpoint.clone(),
                };
                RelyingParty::from_endpoints(&endpoints, client, self.http.clone())?
            }
        };
        let relying_party = Arc::new(match &self.signer {
            Some(signer) => relying_party.with_assertion_signer(signer.clone()),
            None => relying_party,
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
            ProviderProtocol::OpenIdConnect { .. }
        )
    }
}
