//! [`OutboxStore`] on SQL (SQLite and PostgreSQL).

use super::queue::{DurableQueue, attempts_of};
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

/// The email outbox table.
const OUTBOX: DurableQueue = DurableQueue {
    table: "email_outbox",
    columns: "recipient, subject, text_body, html_body",
};

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
        OUTBOX
            .claim(&self.pool, now, lease_secs, limit)
            .await?
            .iter()
            .map(|row| {
                Ok(OutboxEntry {
                    id: row.try_get("id").map_err(unavailable)?,
                    email: OutgoingEmail {
                        to: row.try_get("recipient").map_err(unavailable)?,
                        subject: row.try_get("subject").map_err(unavailable)?,
                        text: row.try_get("text_body").map_err(unavailable)?,
                        html: row.try_get("html_body").map_err(unavailable)?,
                    },
                    attempts: attempts_of(row)?,
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn remove_email(&self, id: i64) -> Result<(), StoreError> {
        OUTBOX.remove(&self.pool, id).await
    }

    async fn postpone_email(
        &self,
        id: i64,
        retry_at: UnixSeconds,
        error: &str,
    ) -> Result<(), StoreError> {
        OUTBOX.postpone(&self.pool, id, retry_at, error).await
    }

    async fn outbox_status(&self) -> Result<OutboxStatus, StoreError> {
        OUTBOX.status(&self.pool).await
    }
}
