//! The signing keys of a running server: loaded from the store, decrypted once, refreshed
//! periodically so a rotation made by another process (`portcullis admin keys rotate`) or another
//! server is picked up, and rotated automatically when the lifecycle policy says so.

use crate::{Store, StoreError};
use portcullis_core::{KeyLifecyclePolicy, KeyMetadata, KeyStatus, SigningKeyRecord, UnixSeconds};
use portcullis_jose::{Algorithm, JoseError, KeyEncryptionKey, SigningKey, base64url};
use portcullis_types::JwkSet;
use std::sync::{Arc, RwLock};
use thiserror::Error;

/// Why keys could not be loaded or created.
#[derive(Debug, Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key could not be generated, sealed or opened.
    #[error("signing key `{kid}`: {source}")]
    Key {
        /// The key concerned.
        kid: String,
        /// The cause.
        source: JoseError,
    },
}

/// The loaded keys: metadata and decrypted keys side by side (same index), replaced as a whole on
/// refresh, so readers never clone and never see a half-updated set.
#[derive(Default)]
struct LoadedKeys {
    metadata: Vec<KeyMetadata>,
    keys: Vec<Arc<SigningKey>>,
}

/// The server's view of its signing keys.
pub struct KeyManager {
    store: Arc<dyn Store>,
    kek: KeyEncryptionKey,
    policy: KeyLifecyclePolicy,
    loaded: RwLock<Arc<LoadedKeys>>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl KeyManager {
    /// Loads every stored key; decrypting them also proves the key-encryption key is right.
    ///
    /// # Errors
    /// [`KeyError`] when the store fails or a key cannot be decrypted.
    pub async fn load(
        store: Arc<dyn Store>,
        kek: KeyEncryptionKey,
        policy: KeyLifecyclePolicy,
    ) -> Result<Self, KeyError> {
        let manager = KeyManager {
            store,
            kek,
            policy,
            loaded: RwLock::new(Arc::new(LoadedKeys::default())),
        };
        manager.refresh().await?;
        Ok(manager)
    }

    /// The lifecycle policy.
    pub fn policy(&self) -> &KeyLifecyclePolicy {
        &self.policy
    }

    fn snapshot(&self) -> Arc<LoadedKeys> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the store, decrypting only keys not loaded before.
    ///
    /// # Errors
    /// [`KeyError`] when the store fails or a new key cannot be decrypted; the keys loaded before
    /// stay in use.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let records = self.store.list_signing_keys().await?;
        let current = self.snapshot();
        let mut next = LoadedKeys::default();
        for record in records {
            let known = current
                .metadata
                .iter()
                .position(|metadata| *metadata == record.metadata)
                .map(|index| current.keys[index].clone());
            let key = match known {
                Some(key) => key,
                None => Arc::new(self.open(&record)?),
            };
            next.metadata.push(record.metadata);
            next.keys.push(key);
        }
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(next);
        Ok(())
    }

    fn open(&self, record: &SigningKeyRecord) -> Result<SigningKey, KeyError> {
        let kid = &record.metadata.kid;
        let wrap = |source| KeyError::Key {
            kid: kid.clone(),
            source,
        };
        let der = self
            .kek
            .open(&record.sealed_private_key, kid)
            .map_err(wrap)?;
        SigningKey::from_pkcs8(record.metadata.alg, kid.clone(), &der).map_err(wrap)
    }

    /// Creates a new key for each algorithm in `algorithms`. Each starts signing after the
    /// pre-publication period (at once if it is the algorithm's first key).
    ///
    /// # Errors
    /// [`KeyError`] when generation, sealing or storing fails.
    pub async fn rotate(
        &self,
        algorithms: &[Algorithm],
        now: UnixSeconds,
    ) -> Result<Vec<KeyMetadata>, KeyError> {
        self.refresh().await?;
        let loaded = self.snapshot();
        let existing = &loaded.metadata;
        let mut created = Vec::new();
        for &alg in algorithms {
            let kid = new_kid(alg).map_err(|source| KeyError::Key {
                kid: alg.to_string(),
                source,
            })?;
            let wrap = |source| KeyError::Key {
                kid: kid.clone(),
                source,
            };
            let key = SigningKey::generate(alg, kid.clone()).map_err(wrap)?;
            let sealed = self
                .kek
                .seal(&key.to_pkcs8().map_err(wrap)?, &kid)
                .map_err(wrap)?;
            let metadata = KeyMetadata {
                kid: kid.clone(),
                alg,
                created_at: now,
                activates_at: self.policy.activation_time(existing, alg, now),
            };
            self.store
                .insert_signing_key(&SigningKeyRecord {
                    metadata: metadata.clone(),
                    sealed_private_key: sealed,
                })
                .await?;
            tracing::info!(kid = %metadata.kid, alg = %alg, activates_at = metadata.activates_at, "signing key created");
            created.push(metadata);
        }
        self.refresh().await?;
        Ok(created)
    }

    /// Creates keys for every algorithm that has none or whose newest key is due for rotation.
    ///
    /// # Errors
    /// As [`KeyManager::rotate`].
    pub async fn rotate_due(&self, now: UnixSeconds) -> Result<Vec<KeyMetadata>, KeyError> {
        let loaded = self.snapshot();
        let existing = &loaded.metadata;
        let due: Vec<Algorithm> = Algorithm::ALL
            .into_iter()
            .filter(|&alg| self.policy.rotation_due(existing, alg, now))
            .collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        self.rotate(&due, now).await
    }

    /// The key that signs for `alg` at `now`.
    pub fn signer(&self, alg: Algorithm, now: UnixSeconds) -> Option<Arc<SigningKey>> {
        let loaded = self.snapshot();
        self.policy
            .signer(&loaded.metadata, alg, now)
            .map(|index| loaded.keys[index].clone())
    }

    /// The keys published at `now`: pending, active and recently retired.
    fn published(&self, now: UnixSeconds) -> Vec<Arc<SigningKey>> {
        let loaded = self.snapshot();
        let statuses = self.policy.statuses(&loaded.metadata, now);
        loaded
            .keys
            .iter()
            .zip(statuses)
            .filter(|(_, status)| status.is_published())
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// The kids published at `now`, in order; a change means verifiers should refetch the JWKS.
    pub fn published_kids(&self, now: UnixSeconds) -> Vec<String> {
        let loaded = self.snapshot();
        let statuses = self.policy.statuses(&loaded.metadata, now);
        loaded
            .metadata
            .iter()
            .zip(statuses)
            .filter(|(_, status)| status.is_published())
            .map(|(metadata, _)| metadata.kid.clone())
            .collect()
    }

    /// The JWK Set at `now`.
    pub fn jwks(&self, now: UnixSeconds) -> JwkSet {
        JwkSet {
            keys: self
                .published(now)
                .iter()
                .map(|key| key.public_jwk())
                .collect(),
        }
    }

    /// The published keys as a verification key set.
    pub fn verification_keys(&self, now: UnixSeconds) -> portcullis_jose::KeySet {
        portcullis_jose::KeySet::from_keys(
            self.published(now)
                .iter()
                .map(|key| key.verifying_key().clone()),
        )
    }

    /// Every key with its status at `now`.
    pub fn statuses(&self, now: UnixSeconds) -> Vec<(KeyMetadata, KeyStatus)> {
        let loaded = self.snapshot();
        let statuses = self.policy.statuses(&loaded.metadata, now);
        loaded.metadata.iter().cloned().zip(statuses).collect()
    }
}

/// A key id that names the algorithm for humans and is unique by 96 random bits.
fn new_kid(alg: Algorithm) -> Result<String, JoseError> {
    let mut random = [0u8; 12];
    portcullis_jose::random_bytes(&mut random)?;
    Ok(format!(
        "{}-{}",
        alg.as_str().to_ascii_lowercase(),
        base64url::encode(random)
    ))
}
