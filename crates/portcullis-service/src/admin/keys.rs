//! Managing signing keys.

use super::{AdminError, Administration};
use crate::{KeyError, KeyManager};
use portcullis_core::KeyMetadata;
use portcullis_jose::Algorithm;

impl Administration<'_> {
    /// Creates a new key of each algorithm (published now, signing after the pre-publication
    /// delay), as an operator's rotation.
    ///
    /// # Errors
    /// Store or key generation failures.
    pub async fn rotate_keys(
        &self,
        keys: &KeyManager,
        algorithms: &[Algorithm],
    ) -> Result<Vec<KeyMetadata>, AdminError> {
        let created =
            keys.rotate(algorithms, self.clock.now())
                .await
                .map_err(|error| match error {
                    KeyError::Store(error) => AdminError::from(error),
                    KeyError::Key { .. } => {
                        tracing::error!(%error, "key rotation failed");
                        AdminError::Internal("key generation")
                    }
                })?;
        for key in &created {
            self.record("keys.rotate", &key.kid);
        }
        Ok(created)
    }
}
