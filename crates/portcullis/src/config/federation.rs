//! `[federation]`: signing in through upstream identity providers (`[[federation.providers]]`,
//! each written as `portcullis_core::federation::ProviderSpec`). A provider's secret may come
//! from `PORTCULLIS_FEDERATION_<ID>_CLIENT_SECRET` (the id upper-cased, `-` as `_`).

use anyhow::bail;
use portcullis_auth::federation::FederationSettings;
use portcullis_core::federation::ProviderSpec;
use serde::Deserialize;

/// `[federation]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Whether the sign-in page offers the username and password form too.
    pub local_sign_in: bool,
    /// The providers, in the order of their buttons.
    pub providers: Vec<ProviderSpec>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            local_sign_in: true,
            providers: Vec::new(),
        }
    }
}

/// The environment variable that may hold provider `id`'s client secret.
pub fn secret_variable(id: &str) -> String {
    format!(
        "PORTCULLIS_FEDERATION_{}_CLIENT_SECRET",
        id.to_ascii_uppercase().replace('-', "_")
    )
}

impl FederationConfig {
    /// The settings this section describes.
    ///
    /// # Errors
    /// A provider that does not validate (named with its field), an id used twice, or no way
    /// to sign in at all.
    pub fn settings(&self) -> anyhow::Result<FederationSettings> {
        let mut providers = Vec::new();
        for spec in &self.providers {
            let provider = match spec.validate() {
                Ok(provider) => provider,
                Err(error) => bail!("federation.providers `{}`: {error}", spec.id),
            };
            if self
                .providers
                .iter()
                .filter(|other| other.id == spec.id)
                .count()
                > 1
            {
                bail!("federation.providers: id `{}` is used twice", spec.id);
            }
            providers.push(provider);
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
                provider.client_secret = Some(value.clone());
            }
        }
    }
}
