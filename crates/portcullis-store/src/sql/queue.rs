//! What the durable queues (the email outbox, back-channel logout notices) share: a row per item
//! with `id`, `created_at`, `next_attempt_at`, `attempts` and `last_error`; due rows claimed under
//! a lease, so that one server takes each; removal once done; postponement with the error kept.

use super::unavailable;
use portcullis_core::{OutboxStatus, UnixSeconds};
use portcullis_service::StoreError;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// The longest error text kept per item.
const MAX_ERROR_CHARS: usize = 500;

/// One queue table.
pub(super) struct DurableQueue {
    /// The table.
    pub table: &'static str,
    /// The columns a claim returns.
    pub columns: &'static str,
}

impl DurableQueue {
    /// Takes up to `limit` rows due at `now`, oldest first, holding them until `now + lease_secs`.
    /// The outer `next_attempt_at <= $2` is checked again against a row another server has just
    /// claimed (PostgreSQL re-evaluates it on the updated row), so a row is claimed once; SQLite
    /// has one writer at a time anyway.
    pub async fn claim(
        &self,
        pool: &AnyPool,
        now: UnixSeconds,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let (table, columns) = (self.table, self.columns);
        let mut rows = sqlx::query(&format!(
            "UPDATE {table} SET next_attempt_at = $1 \
             WHERE next_attempt_at <= $2 AND id IN \
             (SELECT id FROM {table} WHERE next_attempt_at <= $2 ORDER BY id LIMIT $3) \
             RETURNING id, created_at, attempts, {columns}"
        ))
        .bind(now + lease_secs)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
        rows.sort_by_key(|row| row.try_get::<i64, _>("id").unwrap_or_default());
        Ok(rows)
    }

    /// Removes a row.
    pub async fn remove(&self, pool: &AnyPool, id: i64) -> Result<(), StoreError> {
        sqlx::query(&format!("DELETE FROM {} WHERE id = $1", self.table))
            .bind(id)
            .execute(pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Counts a failed attempt, keeps `error`, and makes the row due at `retry_at`.
    pub async fn postpone(
        &self,
        pool: &AnyPool,
        id: i64,
        retry_at: UnixSeconds,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE {} SET next_attempt_at = $1, attempts = attempts + 1, last_error = $2 \
             WHERE id = $3",
            self.table
        ))
        .bind(retry_at)
        .bind(error.chars().take(MAX_ERROR_CHARS).collect::<String>())
        .bind(id)
        .execute(pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    /// How many rows wait, and since when.
    pub async fn status(&self, pool: &AnyPool) -> Result<OutboxStatus, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM {}",
            self.table
        ))
        .fetch_one(pool)
        .await
        .map_err(unavailable)?;
        let pending: i64 = row.try_get("pending").map_err(unavailable)?;
        Ok(OutboxStatus {
            pending: u64::try_from(pending).unwrap_or_default(),
            oldest_created_at: row.try_get("oldest").map_err(unavailable)?,
        })
    }
}

/// A claimed row's failed attempts.
pub(super) fn attempts_of(row: &AnyRow) -> Result<u32, StoreError> {
    let attempts: i64 = row.try_get("attempts").map_err(unavailable)?;
    Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
}
