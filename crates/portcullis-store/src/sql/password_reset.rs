//! [`PasswordResetStore`] on SQL (SQLite and PostgreSQL).

use super::outbox::enqueue_in;
use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{OutgoingEmail, ResetLink, ResetRequest, UnixSeconds};
use portcullis_service::{PasswordResetStore, StoreError};
use sqlx::Row;

#[async_trait]
impl PasswordResetStore for SqlStore {
    async fn queue_reset_request(
        &self,
        email_key: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO password_reset_requests (email_key, requested_at) VALUES ($1, $2)",
        )
        .bind(email_key)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn reset_requests(&self, limit: u32) -> Result<Vec<ResetRequest>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, email_key, requested_at FROM password_reset_requests ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(ResetRequest {
                    id: row.try_get("id").map_err(unavailable)?,
                    email_key: row.try_get("email_key").map_err(unavailable)?,
                    requested_at: row.try_get("requested_at").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn settle_reset_request(
        &self,
        request_id: i64,
        links: &[(ResetLink, OutgoingEmail)],
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let removed = sqlx::query("DELETE FROM password_reset_requests WHERE id = $1")
            .bind(request_id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        // Another server settled it first: nothing more to do (no second link, no second email).
        if removed.rows_affected() == 0 {
            return transaction.commit().await.map_err(unavailable);
        }
        for (link, email) in links {
            sqlx::query("DELETE FROM password_reset_tokens WHERE user_id = $1")
                .bind(&link.user_id)
                .execute(&mut *transaction)
                .await
                .map_err(unavailable)?;
            sqlx::query(
                "INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(link.token_hash.clone())
            .bind(&link.user_id)
            .bind(now)
            .bind(link.expires_at)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
            enqueue_in(&mut *transaction, email, now).await?;
        }
        transaction.commit().await.map_err(unavailable)
    }

    async fn find_reset_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<String>, StoreError> {
        self.link_account(
            "SELECT user_id FROM password_reset_tokens WHERE token_hash = $1 AND expires_at > $2",
            token_hash,
            now,
        )
        .await
    }

    async fn use_reset_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<String>, StoreError> {
        // One statement: of two concurrent uses, one deletes the row and gets the account.
        self.link_account(
            "DELETE FROM password_reset_tokens WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING user_id",
            token_hash,
            now,
        )
        .await
    }

    async fn purge_reset_links(&self, now: UnixSeconds) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM password_reset_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}

impl SqlStore {
    /// The `user_id` that `sql` (binding the token hash and the time) returns, if any.
    async fn link_account(
        &self,
        sql: &str,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(sql)
            .bind(token_hash.to_vec())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| row.try_get("user_id").map_err(unavailable))
            .transpose()
    }
}
