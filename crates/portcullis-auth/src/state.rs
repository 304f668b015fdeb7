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
