//! [`FederationProviderStore`] on SQL (SQLite and PostgreSQL): the provider as JSON, its secret
//! sealed by the caller.

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::federation::ProviderSpec;
use portcullis_service::{FederationProviderStore, StoreError, StoredProvider};
use sqlx::Row;
use sqlx::any::AnyRow;

fn provider_from_row(row: &AnyRow) -> Result<StoredProvider, StoreError> {
    let spec: String = row.try_get("spec").map_err(unavailable)?;
    Ok(StoredProvider {
        spec: serde_json::from_str::<ProviderSpec>(&spec)
            .map_err(|error| StoreError::Corrupt(format!("federation provider: {error}")))?,
        sealed_secret: row.try_get("sealed_secret").map_err(unavailable)?,
        updated_at: row.try_get("updated_at").map_err(unavailable)?,
    })
}

#[async_trait]
impl FederationProviderStore for SqlStore {
    async fn list_federation_providers(&self) -> Result<Vec<StoredProvider>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, spec, sealed_secret, updated_at FROM federation_providers ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(provider_from_row).collect()
    }

    async fn put_federation_provider(&self, provider: &StoredProvider) -> Result<(), StoreError> {
        let spec = ProviderSpec {
            client_secret: None,
            ..provider.spec.clone()
        };
        let spec = serde_json::to_string(&spec)
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        sqlx::query(
            "INSERT INTO federation_providers (id, spec, sealed_secret, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET spec = excluded.spec, \
             sealed_secret = excluded.sealed_secret, updated_at = excluded.updated_at",
        )
        .bind(&provider.spec.id)
        .bind(spec)
        .bind(&provider.sealed_secret)
        .bind(provider.updated_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_federation_provider(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM federation_providers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}
