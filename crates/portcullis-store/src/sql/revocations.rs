//! [`RevocationStore`] on SQL (SQLite and PostgreSQL). The feed's cursor is the autoincrement row id, so it only grows.

use super::{SqlStore, unavailable};
use crate::{RevocationStore, StoreError};
use async_trait::async_trait;
use portcullis_core::{RevocationEntry, RevocationKind, UnixSeconds};
use sqlx::Row;

#[async_trait]
impl RevocationStore for SqlStore {
    async fn add_revocation(
        &self,
        kind: RevocationKind,
        value: &str,
        expires_at: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO revocations (kind, value, expires_at, revoked_at) VALUES ($1, $2, $3, $4) \
             RETURNING cursor",
        )
        .bind(kind.as_str())
        .bind(value)
        .bind(expires_at)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        row.try_get("cursor").map_err(unavailable)
    }

    async fn revocations_after(
        &self,
        cursor: i64,
        limit: u32,
        now: UnixSeconds,
    ) -> Result<Vec<RevocationEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT cursor, kind, value, expires_at FROM revocations \
             WHERE cursor > $1 AND expires_at > $2 ORDER BY cursor LIMIT $3",
        )
        .bind(cursor)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind").map_err(unavailable)?;
                Ok(RevocationEntry {
                    cursor: row.try_get("cursor").map_err(unavailable)?,
                    kind: RevocationKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("revocation kind `{kind}`")))?,
                    value: row.try_get("value").map_err(unavailable)?,
                    expires_at: row.try_get("expires_at").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn is_revoked(
        &self,
        kind: RevocationKind,
        value: &str,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM revocations WHERE value = $1 AND kind = $2 AND expires_at > $3 LIMIT 1",
        )
        .bind(value)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(row.is_some())
    }

    async fn purge_revocations(&self, now: UnixSeconds) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM revocations WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
