//! [`DeviceGrantStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, join_list, split_list, unavailable};
use async_trait::async_trait;
use portcullis_core::device_grant::{DeviceApproval, DeviceGrantRecord, DeviceGrantStatus};
use portcullis_core::{AuthMethods, UnixSeconds};
use portcullis_service::{DeviceGrantStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str = "device_code_hash, user_code_hash, client_id, requested_by, scope, \
                       audiences, interval_secs, last_polled_at, expires_at, status, user_id, \
                       sid, auth_time, amr, granted_scope";

fn grant_from_row(row: &AnyRow) -> Result<DeviceGrantRecord, StoreError> {
    let get = |name: &str| row.try_get::<Option<String>, _>(name).map_err(unavailable);
    let status = match row
        .try_get::<String, _>("status")
        .map_err(unavailable)?
        .as_str()
    {
        "pending" => DeviceGrantStatus::Pending,
        "denied" => DeviceGrantStatus::Denied,
        "approved" => DeviceGrantStatus::Approved(DeviceApproval {
            user_id: get("user_id")?.unwrap_or_default(),
            sid: get("sid")?.unwrap_or_default(),
            auth_time: row
                .try_get::<Option<i64>, _>("auth_time")
                .map_err(unavailable)?
                .unwrap_or_default(),
            amr: AuthMethods::parse(&get("amr")?.unwrap_or_default()),
            scope: get("granted_scope")?.unwrap_or_default(),
        }),
        other => {
            return Err(StoreError::Corrupt(format!(
                "device grant status `{other}`"
            )));
        }
    };
    Ok(DeviceGrantRecord {
        device_code_hash: row.try_get("device_code_hash").map_err(unavailable)?,
        user_code_hash: row.try_get("user_code_hash").map_err(unavailable)?,
        client_id: row.try_get("client_id").map_err(unavailable)?,
        requested_by: row.try_get("requested_by").map_err(unavailable)?,
        scope: row.try_get("scope").map_err(unavailable)?,
        audiences: split_list(row.try_get("audiences").map_err(unavailable)?),
        interval_secs: row.try_get("interval_secs").map_err(unavailable)?,
        last_polled_at: row.try_get("last_polled_at").map_err(unavailable)?,
        expires_at: row.try_get("expires_at").map_err(unavailable)?,
        status,
    })
}

#[async_trait]
impl DeviceGrantStore for SqlStore {
    async fn start_device_grant(
        &self,
        grant: &DeviceGrantRecord,
        now: UnixSeconds,
        max_pending: u64,
    ) -> Result<bool, StoreError> {
        let pending = self
            .pending_count(
                "device_grants",
                "requested_by",
                &grant.client_id,
                &grant.requested_by,
                now,
            )
            .await?;
        if pending >= max_pending {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO device_grants (device_code_hash, user_code_hash, client_id, \
             requested_by, scope, audiences, interval_secs, expires_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')",
        )
        .bind(&grant.device_code_hash)
        .bind(&grant.user_code_hash)
        .bind(&grant.client_id)
        .bind(&grant.requested_by)
        .bind(&grant.scope)
        .bind(join_list(&grant.audiences))
        .bind(grant.interval_secs)
        .bind(grant.expires_at)
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || "user code".to_owned()))?;
        Ok(true)
    }

    async fn pending_device_grant(
        &self,
        user_code_hash: &str,
        now: UnixSeconds,
    ) -> Result<Option<DeviceGrantRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_grants \
             WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2"
        ))
        .bind(user_code_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(grant_from_row)
        .transpose()
    }

    async fn decide_device_grant(
        &self,
        user_code_hash: &str,
        decision: &DeviceGrantStatus,
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        let (status, approval) = match decision {
            DeviceGrantStatus::Pending => return Ok(false),
            DeviceGrantStatus::Denied => ("denied", None),
            DeviceGrantStatus::Approved(approval) => ("approved", Some(approval)),
        };
        let decided = sqlx::query(
            "UPDATE device_grants SET status = $1, user_id = $2, sid = $3, auth_time = $4, \
             amr = $5, granted_scope = $6 \
             WHERE user_code_hash = $7 AND status = 'pending' AND expires_at > $8",
        )
        .bind(status)
        .bind(approval.map(|approval| approval.user_id.clone()))
        .bind(approval.map(|approval| approval.sid.clone()))
        .bind(approval.map(|approval| approval.auth_time))
        .bind(approval.map(|approval| approval.amr.to_string()))
        .bind(approval.map(|approval| approval.scope.clone()))
        .bind(user_code_hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(decided.rows_affected() == 1)
    }

    async fn find_device_grant(
        &self,
        device_code_hash: &str,
    ) -> Result<Option<DeviceGrantRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM device_grants WHERE device_code_hash = $1"
        ))
        .bind(device_code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(grant_from_row)
        .transpose()
    }

    async fn record_device_poll(
        &self,
        device_code_hash: &str,
        now: UnixSeconds,
        interval_secs: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE device_grants SET last_polled_at = $1, interval_secs = $2 \
             WHERE device_code_hash = $3",
        )
        .bind(now)
        .bind(interval_secs)
        .bind(device_code_hash)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn end_device_grant(&self, device_code_hash: &str) -> Result<bool, StoreError> {
        let ended = sqlx::query("DELETE FROM device_grants WHERE device_code_hash = $1")
            .bind(device_code_hash)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(ended.rows_affected() == 1)
    }

    async fn purge_device_grants(&self, now: UnixSeconds) -> Result<u64, StoreError> {
        let purged = sqlx::query("DELETE FROM device_grants WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(purged.rows_affected())
    }
}
