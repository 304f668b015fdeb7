//! [`OutboxStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{OutboxEntry, OutboxStatus, OutgoingEmail, UnixSeconds};
use portcullis_service::{OutboxStore, StoreError};
use sqlx::Row;

/// Queues a message; binds recipient, subject, text, HTML, and the time twice.
const INSERT_EMAIL: &str = "INSERT INTO email_outbox \
     (recipient, subject, text_body, html_body, created_at, next_attempt_at, attempts) \
     VALUES ($1, $2, $3, $4, $5, $6, 0) RETURNING id";

/// Queues `email` through `executor` (a transaction, so the message leaves only if what it
/// announces was committed with it).
pub(super) async fn enqueue_in<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    email: &OutgoingEmail,
    now: UnixSeconds,
) -> Result<i64, StoreError> {
    let row = sqlx::query(INSERT_EMAIL)
        .bind(&email.to)
        .bind(&email.subject)
        .bind(&email.text)
        .bind(&email.html)
        .bind(now)
        .bind(now)
        .fetch_one(executor)
        .await
        .map_err(unavailable)?;
    row.try_get("id").map_err(unavailable)
}

/// The longest error text kept per message.
const MAX_ERROR_CHARS: usize = 500;

#[async_trait]
impl OutboxStore for SqlStore {
    async fn enqueue_email(
        &self,
        email: &OutgoingEmail,
        now: UnixSeconds,
    ) -> Result<i64, StoreError> {
        enqueue_in(&self.pool, email, now).await
    }

    async fn claim_due_emails(
        &self,
        now: UnixSeconds,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        // The outer `next_attempt_at <= $2` is checked again against a row another worker has
        // just claimed (PostgreSQL re-evaluates it on the updated row), so a message is claimed
        // once; SQLite has one writer at a time anyway.
        let rows = sqlx::query(
            "UPDATE email_outbox SET next_attempt_at = $1 \
             WHERE next_attempt_at <= $2 AND id IN \
             (SELECT id FROM email_outbox WHERE next_attempt_at <= $2 ORDER BY id LIMIT $3) \
             RETURNING id, recipient, subject, text_body, html_body, created_at, attempts",
        )
        .bind(now + lease_secs)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let mut entries = rows
            .iter()
            .map(|row| {
                let attempts: i64 = row.try_get("attempts").map_err(unavailable)?;
                Ok(OutboxEntry {
                    id: row.try_get("id").map_err(unavailable)?,
                    email: OutgoingEmail {
                        to: row.try_get("recipient").map_err(unavailable)?,
                        subject: row.try_get("subject").map_err(unavailable)?,
                        text: row.try_get("text_body").map_err(unavailable)?,
                        html: row.try_get("html_body").map_err(unavailable)?,
                    },
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        entries.sort_by_key(|entry| entry.id);
        Ok(entries)
    }

    async fn remove_email(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM email_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn postpone_email(
        &self,
        id: i64,
        retry_at: UnixSeconds,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE email_outbox SET next_attempt_at = $1, attempts = attempts + 1, \
             last_error = $2 WHERE id = $3",
        )
        .bind(retry_at)
        .bind(error.chars().take(MAX_ERROR_CHARS).collect::<String>())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn outbox_status(&self) -> Result<OutboxStatus, StoreError> {
        let row =
            sqlx::query("SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM email_outbox")
                .fetch_one(&self.pool)
                .await
                .map_err(unavailable)?;
        let pending: i64 = row.try_get("pending").map_err(unavailable)?;
        Ok(OutboxStatus {
            pending: u64::try_from(pending).unwrap_or_default(),
            oldest_created_at: row.try_get("oldest").map_err(unavailable)?,
        })
    }
}
