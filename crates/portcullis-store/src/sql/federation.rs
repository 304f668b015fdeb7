//! [`FederatedIdentityStore`] on SQL (SQLite and PostgreSQL).

use super::users::insert_user;
use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::User;
use portcullis_core::federation::FederatedIdentity;
use portcullis_service::{FederatedIdentityStore, IDENTITY_LINKED, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str = "provider, subject, user_id, email, linked_at";

fn identity_from_row(row: &AnyRow) -> Result<FederatedIdentity, StoreError> {
    Ok(FederatedIdentity {
        provider: row.try_get("provider").map_err(unavailable)?,
        subject: row.try_get("subject").map_err(unavailable)?,
        user_id: row.try_get("user_id").map_err(unavailable)?,
        email: row.try_get("email").map_err(unavailable)?,
        linked_at: row.try_get("linked_at").map_err(unavailable)?,
    })
}

/// Inserts `identity` through `executor` (the pool, or a transaction).
async fn insert_identity<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    identity: &FederatedIdentity,
) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO federated_identities ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
    ))
    .bind(&identity.provider)
    .bind(&identity.subject)
    .bind(&identity.user_id)
    .bind(&identity.email)
    .bind(identity.linked_at)
    .execute(executor)
    .await
    .map_err(|error| crate::error::from_sqlx(error, || IDENTITY_LINKED.to_owned()))?;
    Ok(())
}

#[async_trait]
impl FederatedIdentityStore for SqlStore {
    async fn find_federated_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM federated_identities WHERE provider = $1 AND subject = $2"
        ))
        .bind(provider)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(identity_from_row).transpose()
    }

    async fn federated_identities_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<FederatedIdentity>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM federated_identities WHERE user_id = $1 \
             ORDER BY linked_at, provider"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(identity_from_row).collect()
    }

    async fn link_federated_identity(
        &self,
        identity: &FederatedIdentity,
    ) -> Result<(), StoreError> {
        insert_identity(&self.pool, identity).await
    }

    async fn create_federated_user(
        &self,
        user: &User,
        identity: &FederatedIdentity,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        insert_user(&mut *transaction, user).await?;
        insert_identity(&mut *transaction, identity).await?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn unlink_federated_identity(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("DELETE FROM federated_identities WHERE user_id = $1 AND provider = $2")
                .bind(user_id)
                .bind(provider)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn count_federated_identities(&self, provider: &str) -> Result<u64, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS links FROM federated_identities WHERE provider = $1")
                .bind(provider)
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
        let links: i64 = row.try_get("links").map_err(unavailable)?;
        Ok(u64::try_from(links).unwrap_or_default())
    }

    async fn delete_federated_identities(&self, provider: &str) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM federated_identities WHERE provider = $1")
            .bind(provider)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
