//! [`PasskeyStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::UnixSeconds;
use portcullis_core::passkey::PasskeyRecord;
use portcullis_service::{PasskeyStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

const PASSKEY_COLUMNS: &str = "credential_id, user_id, name, credential, backup_eligible, \
                               backed_up, created_at, last_used_at";

fn passkey_from_row(row: &AnyRow) -> Result<PasskeyRecord, StoreError> {
    let flag = |name: &str| -> Result<bool, StoreError> {
        Ok(row.try_get::<i64, _>(name).map_err(unavailable)? != 0)
    };
    Ok(PasskeyRecord {
        credential_id: row.try_get("credential_id").map_err(unavailable)?,
        user_id: row.try_get("user_id").map_err(unavailable)?,
        name: row.try_get("name").map_err(unavailable)?,
        credential: row.try_get("credential").map_err(unavailable)?,
        backup_eligible: flag("backup_eligible")?,
        backed_up: flag("backed_up")?,
        created_at: row.try_get("created_at").map_err(unavailable)?,
        last_used_at: row.try_get("last_used_at").map_err(unavailable)?,
    })
}

#[async_trait]
impl PasskeyStore for SqlStore {
    async fn add_passkey(&self, passkey: &PasskeyRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO passkeys ({PASSKEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&passkey.credential_id)
        .bind(&passkey.user_id)
        .bind(&passkey.name)
        .bind(&passkey.credential)
        .bind(i64::from(passkey.backup_eligible))
        .bind(i64::from(passkey.backed_up))
        .bind(passkey.created_at)
        .bind(passkey.last_used_at)
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || "passkey".to_owned()))?;
        Ok(())
    }

    async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 \
             ORDER BY created_at, credential_id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(passkey_from_row).collect()
    }

    async fn find_passkey(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(passkey_from_row).transpose()
    }

    async fn record_passkey_use(
        &self,
        credential_id: &[u8],
        credential: &str,
        backed_up: bool,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE passkeys SET credential = $1, backed_up = $2, last_used_at = $3 \
             WHERE credential_id = $4",
        )
        .bind(credential)
        .bind(i64::from(backed_up))
        .bind(now)
        .bind(credential_id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_passkey(
        &self,
        user_id: &str,
        credential_id: &[u8],
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM passkeys WHERE user_id = $1 AND credential_id = $2")
            .bind(user_id)
            .bind(credential_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}
