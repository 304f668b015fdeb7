//! The providers users may sign in through, as relying parties: those of the configuration file,
//! then those added through the admin API (reloaded from the store after each change and
//! periodically, so every server of a cluster follows). An OpenID provider's metadata is read on
//! first use and kept while the provider is unchanged; a failed read is retried at the next
//! sign-in, so a provider that was down works once it is back.
//!
//! Providers of the configuration file are the operator's and are reached as written. Those of
//! the admin API are reached through the SSRF guard (as client-registered URLs are): https
//! only, public addresses only, unless `auth.outbound_private_networks`; every URL the server
//! itself requests is checked, the ones the provider's metadata names included.

use crate::outbound::{OutboundError, check_url_text, guarded_client_builder};
use portcullis_core::federation::{Provider, ProviderProtocol};
use portcullis_sdk::client::{
    AssertionSigner, ClientConfig, ClientError, OAuthEndpoints, RelyingParty,
};
use portcullis_types::ProviderMetadata;
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
    /// For the configuration file's providers.
    http: reqwest::Client,
    /// For the admin API's providers.
    guarded_http: reqwest::Client,
    allow_private: bool,
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
    reach: Reach,
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

/// Which URLs the server may request for a provider.
#[derive(Debug, Clone, Copy)]
enum Reach {
    /// Any (a provider of the configuration file).
    Any,
    /// Those [`crate::outbound::check_url`] lets through (a provider of the admin API).
    Guarded { allow_private: bool },
}

impl Upstreams {
    /// The providers of the configuration file, called back at
    /// `{issuer}/federation/<id>/callback`; those authenticating with `private_key_jwt` sign
    /// with `signer`. `allow_private` lets the admin API's providers be on loopback and private
    /// addresses, over plain http too.
    ///
    /// # Errors
    /// When no HTTP client can be built.
    pub fn new(
        configured: &[Provider],
        issuer: &str,
        signer: Arc<dyn AssertionSigner>,
        allow_private: bool,
    ) -> Result<Self, reqwest::Error> {
        // Redirects would carry codes and the client secret elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .user_agent("Portcullis")
            .build()?;
        let guarded_http = guarded_client_builder(allow_private)
            .timeout(PROVIDER_TIMEOUT)
            .user_agent("Portcullis")
            .build()?;
        let upstreams = Upstreams {
            configured: configured.to_vec(),
            reloading: tokio::sync::Mutex::new(()),
            current: RwLock::new(Arc::new(Vec::new())),
            issuer: issuer.trim_end_matches('/').to_owned(),
            http,
            guarded_http,
            allow_private,
            signer,
        };
        upstreams.set_managed(Vec::new());
        Ok(upstreams)
    }

    /// Whether the server may request `url` for a provider of the admin API.
    ///
    /// # Errors
    /// [`OutboundError::Refused`] naming why not.
    pub fn check_managed_url(&self, url: &str) -> Result<(), OutboundError> {
        check_url_text(url, self.allow_private).map(drop)
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
        let (http, reach) = if managed {
            let reach = Reach::Guarded {
                allow_private: self.allow_private,
            };
            (self.guarded_http.clone(), reach)
        } else {
            (self.http.clone(), Reach::Any)
        };
        Arc::new(Upstream {
            redirect_uri: format!("{}{}", self.issuer, super::callback_path(&provider.id)),
            settings: provider.clone(),
            managed,
            http,
            reach,
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
                self.check("issuer", issuer)?;
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
        self.check_metadata(relying_party.metadata())?;
        let relying_party = Arc::new(match &self.signer {
            Some(signer) => relying_party.with_assertion_signer(signer.clone()),
            None => relying_party,
        });
        if let Ok(mut slot) = self.relying_party.lock() {
            *slot = Some(relying_party.clone());
        }
        Ok(relying_party)
    }

    /// Refuses a URL the server would request that the provider's [`Reach`] does not allow.
    fn check(&self, name: &str, url: &str) -> Result<(), ClientError> {
        let Reach::Guarded { allow_private } = self.reach else {
            return Ok(());
        };
        check_url_text(url, allow_private)
            .map(drop)
            .map_err(|error| ClientError::Provider(format!("{name}: {error}")))
    }

    /// Checks every URL of `metadata` the server itself requests (the browser follows the
    /// authorization and logout endpoints): a public host's metadata may name internal ones.
    fn check_metadata(&self, metadata: &ProviderMetadata) -> Result<(), ClientError> {
        self.check("token_endpoint", &metadata.token_endpoint)?;
        if !metadata.jwks_uri.is_empty() {
            self.check("jwks_uri", &metadata.jwks_uri)?;
        }
        for (name, url) in [
            ("userinfo_endpoint", &metadata.userinfo_endpoint),
            ("revocation_endpoint", &metadata.revocation_endpoint),
        ] {
            if let Some(url) = url {
                self.check(name, url)?;
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::federation::ProviderSpec;

    struct NoSigner;

    impl AssertionSigner for NoSigner {
        fn sign(&self, _claims: &serde_json::Value) -> Result<String, String> {
            Err("no key".to_owned())
        }
    }

    fn provider(id: &str, spec: serde_json::Value) -> Provider {
        let mut spec = spec;
        spec["id"] = serde_json::json!(id);
        serde_json::from_value::<ProviderSpec>(spec)
            .expect("spec")
            .validate()
            .expect("valid")
    }

    fn hub(token_endpoint: &str) -> serde_json::Value {
        serde_json::json!({"name": "Hub", "protocol": "oauth2", "client_id": "c",
            "authorization_endpoint": "https://hub.example/authorize",
            "token_endpoint": token_endpoint,
            "userinfo_endpoint": "https://api.hub.example/user"})
    }

    #[tokio::test]
    async fn providers_of_the_admin_api_are_reached_through_the_ssrf_guard_only() {
        let internal = hub("https://169.254.169.254/token");
        let upstreams = Upstreams::new(
            &[provider("file", internal.clone())],
            "https://auth.example",
            Arc::new(NoSigner),
            false,
        )
        .expect("upstreams");
        upstreams.set_managed(vec![
            provider("internal", internal.clone()),
            provider("plain", hub("http://hub.example/token")),
            provider("public", hub("https://hub.example/token")),
            provider(
                "loopback",
                serde_json::json!({"name": "L", "issuer": "https://localhost:1",
                    "client_id": "c"}),
            ),
        ]);
        let refusal = |id: &str| {
            let upstream = upstreams.get(id).expect("provider");
            async move { upstream.relying_party().await.err().map(|e| e.to_string()) }
        };
        // The operator's file is trusted as written; the admin API's providers are not.
        assert_eq!(refusal("file").await, None);
        assert_eq!(refusal("public").await, None);
        let refused = refusal("internal").await.expect("refused");
        assert!(
            refused.contains("token_endpoint: refused URL: not a public address"),
            "{refused}"
        );
        let plain = refusal("plain").await.expect("refused");
        assert!(plain.contains("only https URLs"), "{plain}");
        // A name is checked when it resolves: `localhost` has no public address.
        let loopback = refusal("loopback").await.expect("refused");
        assert!(loopback.contains("no public address"), "{loopback}");
        assert!(upstreams.check_managed_url("https://10.1.2.3/").is_err());
        assert!(upstreams.check_managed_url("https://sso.example/").is_ok());

        // `auth.outbound_private_networks` (a stack on one machine) lets them through.
        let open = Upstreams::new(&[], "https://auth.example", Arc::new(NoSigner), true)
            .expect("upstreams");
        open.set_managed(vec![provider("internal", hub("http://10.0.0.1/token"))]);
        let upstream = open.get("internal").expect("provider");
        assert!(upstream.relying_party().await.is_ok());
        assert!(open.check_managed_url("http://127.0.0.1:3000/").is_ok());
    }
}
