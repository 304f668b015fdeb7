//! Managing the upstream identity providers users sign in through (beside those of the
//! configuration file, which stay as the file says). Client secrets are kept sealed with the
//! key-encryption key and never shown again; a change without a secret keeps the stored one.

use super::{AdminError, Administration};
use crate::ports::StoredProvider;
use portcullis_core::federation::{Provider, ProviderError, ProviderSpec};
use portcullis_jose::KeyEncryptionKey;

/// The sealing context of provider `id`'s secret: a secret sealed for one provider opens for no
/// other.
fn secret_context(id: &str) -> String {
    format!("portcullis federation provider secret v1\n{id}")
}

/// Whether two providers as written are the same provider: the same protocol, issuer, endpoints,
/// subject claim and client (a provider may give each client its own pairwise subjects). Links
/// and a stored secret belong to that provider only.
fn same_provider(a: &ProviderSpec, b: &ProviderSpec) -> bool {
    a.protocol == b.protocol
        && a.issuer == b.issuer
        && a.authorization_endpoint == b.authorization_endpoint
        && a.token_endpoint == b.token_endpoint
        && a.userinfo_endpoint == b.userinfo_endpoint
        && a.subject_claim == b.subject_claim
        && a.client_id == b.client_id
}

/// A provider as the admin API shows it: as written, and whether it has a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderListing {
    /// The provider as written (no secret).
    pub spec: ProviderSpec,
    /// Whether a client secret is stored.
    pub has_secret: bool,
    /// When it was last changed.
    pub updated_at: portcullis_core::UnixSeconds,
}

impl From<ProviderError> for AdminError {
    fn from(error: ProviderError) -> Self {
        AdminError::Invalid {
            field: error.field,
            message: error.to_string(),
        }
    }
}

/// The providers of `stored`, their secrets opened with `sealer`; one that no longer validates
/// or whose secret does not open is left out (and logged).
pub fn usable_providers(stored: Vec<StoredProvider>, sealer: &KeyEncryptionKey) -> Vec<Provider> {
    stored
        .into_iter()
        .filter_map(|record| {
            let id = record.spec.id.clone();
            let secret = match &record.sealed_secret {
                Some(sealed) => match sealer
                    .open(sealed, &secret_context(&id))
                    .ok()
                    .and_then(|plain| String::from_utf8(plain).ok())
                {
                    Some(secret) => Some(secret),
                    None => {
                        tracing::error!(provider = %id, "a provider's secret does not open");
                        return None;
                    }
                },
                None => None,
            };
            let spec = ProviderSpec {
                client_secret: secret,
                ..record.spec
            };
            spec.validate()
                .inspect_err(
                    |error| tracing::error!(provider = %id, %error, "stored provider unusable"),
                )
                .ok()
        })
        .collect()
}

impl Administration<'_> {
    /// The providers added through the admin API, by id.
    ///
    /// # Errors
    /// Store failures.
    pub async fn federation_providers(&self) -> Result<Vec<ProviderListing>, AdminError> {
        Ok(self
            .store
            .list_federation_providers()
            .await?
            .into_iter()
            .map(|stored| ProviderListing {
                has_secret: stored.sealed_secret.is_some(),
                updated_at: stored.updated_at,
                spec: stored.spec,
            })
            .collect())
    }

    /// Creates the provider or replaces the one of its id; without a `client_secret`, a stored
    /// one is kept (unless the provider now uses `private_key_jwt`). `reserved` says whether an
    /// id belongs to the configuration file.
    ///
    /// # Errors
    /// [`AdminError::Invalid`] naming the field, [`AdminError::Conflict`] for a file
    /// provider's id, or store and sealing failures.
    pub async fn put_federation_provider(
        &self,
        spec: ProviderSpec,
        sealer: &KeyEncryptionKey,
        reserved: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<ProviderListing, AdminError> {
        spec.validate()?;
        if reserved(&spec.id) {
            return Err(AdminError::Conflict(format!(
                "provider `{}` of the configuration file",
                spec.id
            )));
        }
        let before = self
            .store
            .list_federation_providers()
            .await?
            .into_iter()
            .find(|stored| stored.spec.id == spec.id);
        let same = before
            .as_ref()
            .is_some_and(|stored| same_provider(&stored.spec, &spec));
        // Links are keyed by the provider's id and the subject there: under another issuer
        // (or subject claim) the same subjects are other people, who must not inherit them.
        if !same && self.store.count_federated_identities(&spec.id).await? > 0 {
            return Err(AdminError::Conflict(format!(
                "accounts linked to provider `{}` (another issuer, endpoint, subject claim or \
                 client needs a new id)",
                spec.id
            )));
        }
        let sealed_secret = match (&spec.client_secret, spec.private_key_jwt) {
            (Some(secret), _) => Some(
                sealer
                    .seal(secret.as_bytes(), &secret_context(&spec.id))
                    .map_err(|_| AdminError::Internal("sealing the secret"))?,
            ),
            (None, true) => None,
            // The stored secret goes only to the provider it was given for.
            (None, false) if same => before.and_then(|stored| stored.sealed_secret),
            (None, false)
                if before
                    .as_ref()
                    .is_some_and(|stored| stored.sealed_secret.is_some()) =>
            {
                return Err(AdminError::Invalid {
                    field: "client_secret",
                    message: "client_secret: required again when the issuer, endpoints or \
                              client change"
                        .to_owned(),
                });
            }
            (None, false) => None,
        };
        let stored = StoredProvider {
            spec: ProviderSpec {
                client_secret: None,
                ..spec
            },
            sealed_secret,
            updated_at: self.clock.now(),
        };
        self.store.put_federation_provider(&stored).await?;
        self.record("federation_provider.put", &stored.spec.id);
        Ok(ProviderListing {
            has_secret: stored.sealed_secret.is_some(),
            updated_at: stored.updated_at,
            spec: stored.spec,
        })
    }

    /// Deletes a provider added through the admin API and the links to it (a provider made
    /// later under the same id may be another one); accounts keep their other ways in.
    ///
    /// # Errors
    /// [`AdminError::NotFound`], or store failures.
    pub async fn delete_federation_provider(&self, id: &str) -> Result<(), AdminError> {
        if !self.store.delete_federation_provider(id).await? {
            return Err(AdminError::not_found("provider", id));
        }
        self.store.delete_federated_identities(id).await?;
        self.record("federation_provider.delete", id);
        Ok(())
    }
}
