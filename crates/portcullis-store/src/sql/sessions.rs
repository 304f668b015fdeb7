//! [`SessionStore`] and [`ConsentStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{AuthMethods, Session, UnixSeconds};
use portcullis_service::{ConsentStore, SessionSearch, SessionStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

const SESSION_COLUMNS: &str = "secret_hash, sid, user_id, auth_time, created_at, last_seen_at, expires_at, amr, \
     identity_provider";

fn session_from_row(row: &AnyRow) -> Result<Session, StoreError> {
    Ok(Session {
        secret_hash: row.try_get("secret_hash").map_err(unavailable)?,
        sid: row.try_get("sid").map_err(unavailable)?,
        user_id: row.try_get("user_id").map_err(unavailable)?,
        auth_time: row.try_get("auth_time").map_err(unavailable)?,
        created_at: row.try_get("created_at").map_err(unavailable)?,
        last_seen_at: row.try_get("last_seen_at").map_err(unavailable)?,
        expires_at: row.try_get("expires_at").map_err(unavailable)?,
        amr: AuthMethods::parse(&row.try_get::<String, _>("amr").map_err(unavailable)?),
        identity_provider: row.try_get("identity_provider").map_err(unavailable)?,
    })
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&session.secret_hash)
        .bind(&session.sid)
        .bind(&session.user_id)
        .bind(session.auth_time)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .bind(session.amr.to_string())
        .bind(&session.identity_provider)
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || "session".to_owned()))?;
        Ok(())
    }

    async fn find_session(&self, secret_hash: &[u8]) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn touch_session(&self, secret_hash: &[u8], now: UnixSeconds) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE secret_hash = $2")
            .bind(now)
            .bind(secret_hash)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_session(&self, sid: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "DELETE FROM sessions WHERE sid = $1 RETURNING {SESSION_COLUMNS}"
        ))
        .bind(sid)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn list_sessions(&self) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions ORDER BY created_at DESC"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn list_sessions_of_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn search_sessions(&self, search: &SessionSearch) -> Result<Vec<Session>, StoreError> {
        // One index range scan (migration 0006): (created_at, sid), or (user_id, created_at, sid).
        let mut conditions = Vec::new();
        let mut next = 1;
        if search.user_id.is_some() {
            conditions.push(format!("user_id = ${next}"));
            next += 1;
        }
        if search.before.is_some() {
            conditions.push(format!("(created_at, sid) < (${next}, ${})", next + 1));
            next += 2;
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let text = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions {filter} \
             ORDER BY created_at DESC, sid DESC LIMIT ${next}"
        );
        let mut query = sqlx::query(&text);
        if let Some(user_id) = &search.user_id {
            query = query.bind(user_id.clone());
        }
        if let Some((created_at, sid)) = &search.before {
            query = query.bind(*created_at).bind(sid.clone());
        }
        let rows = query
            .bind(i64::from(search.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn purge_sessions(&self, now: UnixSeconds, idle_secs: i64) -> Result<u64, StoreError> {
        let result =
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at + $2 <= $3")
                .bind(now)
                .bind(idle_secs)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, \
             granted_at = excluded.granted_at",
        )
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|row| row.try_get("scopes").map_err(unavailable))
            .transpose()
    }

    async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
            .bind(user_id)
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn consents_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String, UnixSeconds)>, StoreError> {
        let rows = sqlx::query(
            "SELECT client_id, scopes, granted_at FROM consents WHERE user_id = $1 ORDER BY client_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("client_id").map_err(unavailable)?,
                    row.try_get("scopes").map_err(unavailable)?,
                    row.try_get("granted_at").map_err(unavailable)?,
                ))
            })
            .collect()
    }
}
