//! [`RevocationStore`] on SQL (SQLite and PostgreSQL). The feed's position is the cursor, and
//! writers take one row's lock before they insert and keep it until they commit, so cursors commit
//! in order: once an entry is visible, every entry with a lower cursor is too.

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{RevocationEntry, RevocationFeedPage, RevocationKind, UnixSeconds};
use portcullis_service::{RevocationStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

fn entry_from_row(row: &AnyRow) -> Result<(i64, RevocationEntry), StoreError> {
    let kind: String = row.try_get("kind").map_err(unavailable)?;
    Ok((
        row.try_get("cursor").map_err(unavailable)?,
        RevocationEntry {
            kind: RevocationKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("revocation kind `{kind}`")))?,
            value: row.try_get("value").map_err(unavailable)?,
            expires_at: row.try_get("expires_at").map_err(unavailable)?,
        },
    ))
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn add_revocation(
        &self,
        entry: &RevocationEntry,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        // Held until the commit: the next writer gets its cursor only after this one committed.
        sqlx::query("UPDATE revocation_writer SET last_write = $1 WHERE id = 1")
            .bind(now)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO revocations (kind, value, expires_at, revoked_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(entry.kind.as_str())
        .bind(&entry.value)
        .bind(entry.expires_at)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn revocations_after(
        &self,
        after: i64,
        limit: u32,
        now: UnixSeconds,
    ) -> Result<RevocationFeedPage, StoreError> {
        let rows = sqlx::query(
            "SELECT cursor, kind, value, expires_at FROM revocations \
             WHERE cursor > $1 AND expires_at > $2 ORDER BY cursor LIMIT $3",
        )
        .bind(after)
        .bind(now)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RevocationFeedPage {
            next: entries.last().map_or(after, |(cursor, _)| *cursor),
            entries: entries.into_iter().map(|(_, entry)| entry).collect(),
        })
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
