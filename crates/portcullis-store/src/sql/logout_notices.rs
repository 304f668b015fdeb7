//! [`LogoutNoticeStore`] on SQL (SQLite and PostgreSQL).

use super::queue::{DurableQueue, attempts_of};
use super::{Dialect, SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{LogoutNotice, OutboxStatus, UnixSeconds};
use portcullis_service::{LogoutNoticeStore, StoreError};
use sqlx::Row;

/// The queue of logout notices.
const NOTICES: DurableQueue = DurableQueue {
    table: "logout_notices",
    columns: "client_id, subject, sid",
};

#[async_trait]
impl LogoutNoticeStore for SqlStore {
    async fn record_session_client(
        &self,
        sid: &str,
        client_id: &str,
        user_id: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_clients (sid, client_id, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (sid, client_id) DO NOTHING",
        )
        .bind(sid)
        .bind(client_id)
        .bind(user_id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn queue_logout_notices(&self, sid: &str, now: UnixSeconds) -> Result<u64, StoreError> {
        if self.dialect == Dialect::Postgres {
            // One statement: the clients deleted are exactly the clients queued, even when
            // another one is recorded for the session meanwhile (read committed would let a
            // second DELETE remove a row the INSERT never saw).
            let queued = sqlx::query(
                "WITH ended AS (DELETE FROM session_clients WHERE sid = $1 \
                 RETURNING client_id, user_id, sid) \
                 INSERT INTO logout_notices (client_id, subject, sid, created_at, \
                 next_attempt_at, attempts) \
                 SELECT ended.client_id, ended.user_id, ended.sid, $2, $2, 0 FROM ended \
                 JOIN clients ON clients.id = ended.client_id \
                 WHERE clients.backchannel_logout_uri IS NOT NULL",
            )
            .bind(sid)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            return Ok(queued.rows_affected());
        }
        // SQLite: one writer at a time, so the transaction sees no other write in between.
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let queued = sqlx::query(
            "INSERT INTO logout_notices (client_id, subject, sid, created_at, next_attempt_at, \
             attempts) \
             SELECT session_clients.client_id, session_clients.user_id, session_clients.sid, \
             $2, $2, 0 FROM session_clients JOIN clients ON clients.id = session_clients.client_id \
             WHERE session_clients.sid = $1 AND clients.backchannel_logout_uri IS NOT NULL",
        )
        .bind(sid)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?
        .rows_affected();
        sqlx::query("DELETE FROM session_clients WHERE sid = $1")
            .bind(sid)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(queued)
    }

    async fn claim_due_logout_notices(
        &self,
        now: UnixSeconds,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<LogoutNotice>, StoreError> {
        NOTICES
            .claim(&self.pool, now, lease_secs, limit)
            .await?
            .iter()
            .map(|row| {
                Ok(LogoutNotice {
                    id: row.try_get("id").map_err(unavailable)?,
                    client_id: row.try_get("client_id").map_err(unavailable)?,
                    subject: row.try_get("subject").map_err(unavailable)?,
                    sid: row.try_get("sid").map_err(unavailable)?,
                    attempts: attempts_of(row)?,
                    created_at: row.try_get("created_at").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn remove_logout_notice(&self, id: i64) -> Result<(), StoreError> {
        NOTICES.remove(&self.pool, id).await
    }

    async fn postpone_logout_notice(
        &self,
        id: i64,
        retry_at: UnixSeconds,
        error: &str,
    ) -> Result<(), StoreError> {
        NOTICES.postpone(&self.pool, id, retry_at, error).await
    }

    async fn logout_notice_status(&self) -> Result<OutboxStatus, StoreError> {
        NOTICES.status(&self.pool).await
    }

    async fn purge_session_clients(&self, before: UnixSeconds) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM session_clients WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
