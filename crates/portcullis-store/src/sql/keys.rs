//! [`SigningKeyStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{KeyMetadata, SigningKeyRecord};
use portcullis_service::{SigningKeyStore, StoreError};
use sqlx::Row;

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        let metadata = &key.metadata;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, created_at, activates_at, sealed_private_key) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&metadata.kid)
        .bind(metadata.alg.as_str())
        .bind(metadata.created_at)
        .bind(metadata.activates_at)
        .bind(&key.sealed_private_key)
        .execute(&self.pool)
        .await
        .map_err(|error| {
            crate::error::from_sqlx(error, || format!("signing key `{}`", metadata.kid))
        })?;
        Ok(())
    }

    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, alg, created_at, activates_at, sealed_private_key FROM signing_keys \
             ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let kid: String = row.try_get("kid").map_err(unavailable)?;
                let alg = row
                    .try_get::<String, _>("alg")
                    .map_err(unavailable)?
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("signing key `{kid}`: alg")))?;
                Ok(SigningKeyRecord {
                    metadata: KeyMetadata {
                        kid,
                        alg,
                        created_at: row.try_get("created_at").map_err(unavailable)?,
                        activates_at: row.try_get("activates_at").map_err(unavailable)?,
                    },
                    sealed_private_key: row.try_get("sealed_private_key").map_err(unavailable)?,
                })
            })
            .collect()
    }
}
