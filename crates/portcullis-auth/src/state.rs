//! Shared state handed to every handler.

use crate::metrics::Metrics;
use crate::{AuthSettings, KeyManager};
use portcullis_core::Clock;
use portcullis_store::Store;
use std::sync::Arc;

/// The auth server's state: cheap to clone, everything behind `Arc`.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keys: Arc<KeyManager>,
    /// Settings.
    pub settings: Arc<AuthSettings>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// Loads the keys (creating the first key of each algorithm, and any rotation that is due)
    /// and assembles the state.
    ///
    /// # Errors
    /// [`crate::KeyError`] when keys cannot be loaded, decrypted or created.
    pub async fn build(
        store: Arc<dyn Store>,
        kek: portcullis_jose::KeyEncryptionKey,
        settings: AuthSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, crate::KeyError> {
        let keys = KeyManager::load(store.clone(), kek, settings.key_policy).await?;
        keys.rotate_due(clock.now()).await?;
        Ok(AppState {
            store,
            keys: Arc::new(keys),
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
            clock,
        })
    }
}
