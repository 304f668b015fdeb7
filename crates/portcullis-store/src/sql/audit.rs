//! [`AuditStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{AuditRecord, UnixSeconds};
use portcullis_service::{AuditStore, StoreError};
use sqlx::Row;

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        for record in records {
            sqlx::query("INSERT INTO audit_events (at, kind, detail) VALUES ($1, $2, $3)")
                .bind(record.at)
                .bind(&record.kind)
                .bind(&record.detail)
                .execute(&mut *transaction)
                .await
                .map_err(unavailable)?;
        }
        transaction.commit().await.map_err(unavailable)
    }

    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows =
            sqlx::query("SELECT id, at, kind, detail FROM audit_events ORDER BY id DESC LIMIT $1")
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id").map_err(unavailable)?,
                    at: row.try_get("at").map_err(unavailable)?,
                    kind: row.try_get("kind").map_err(unavailable)?,
                    detail: row.try_get("detail").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn purge_audit(&self, before: UnixSeconds) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
