//! [`PushedRequestStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::UnixSeconds;
use portcullis_core::pushed_request::{OpenedPushedRequest, PushedRequestRecord};
use portcullis_service::{PushedRequestStore, StoreError};
use sqlx::Row;

#[async_trait]
impl PushedRequestStore for SqlStore {
    async fn push_request(
        &self,
        request: &PushedRequestRecord,
        now: UnixSeconds,
        max_pending: u64,
    ) -> Result<bool, StoreError> {
        let pending = self
            .pending_count(
                "pushed_requests",
                "pushed_by",
                &request.client_id,
                &request.pushed_by,
                now,
            )
            .await?;
        if pending >= max_pending {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO pushed_requests \
             (reference_hash, client_id, pushed_by, parameters, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&request.reference_hash)
        .bind(&request.client_id)
        .bind(&request.pushed_by)
        .bind(&request.parameters)
        .bind(request.expires_at)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(true)
    }

    async fn open_pushed_request(
        &self,
        reference_hash: &str,
        client_id: &str,
        now: UnixSeconds,
        opened_until: UnixSeconds,
    ) -> Result<Option<OpenedPushedRequest>, StoreError> {
        let row = sqlx::query(
            "UPDATE pushed_requests \
             SET expires_at = CASE WHEN opened_at IS NULL THEN $1 ELSE expires_at END, \
                 opened_at = COALESCE(opened_at, $4) \
             WHERE reference_hash = $2 AND client_id = $3 AND expires_at > $4 \
             RETURNING parameters, opened_at",
        )
        .bind(opened_until)
        .bind(reference_hash)
        .bind(client_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|row| {
            Ok(OpenedPushedRequest {
                parameters: row.try_get("parameters").map_err(unavailable)?,
                opened_at: row.try_get("opened_at").map_err(unavailable)?,
            })
        })
        .transpose()
    }

    async fn finish_pushed_request(&self, reference_hash: &str) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM pushed_requests WHERE reference_hash = $1")
            .bind(reference_hash)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(removed.rows_affected() == 1)
    }

    async fn purge_pushed_requests(&self, now: UnixSeconds) -> Result<u64, StoreError> {
        let purged = sqlx::query("DELETE FROM pushed_requests WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(purged.rows_affected())
    }
}
