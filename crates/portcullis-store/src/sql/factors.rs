//! [`FactorStore`] on SQL (SQLite and PostgreSQL). Using a code is one conditional `UPDATE`, so
//! two requests with the same code cannot both succeed.

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::UnixSeconds;
use portcullis_core::totp::TotpFactorRecord;
use portcullis_service::{FactorStore, StoreError};
use sqlx::Row;

#[async_trait]
impl FactorStore for SqlStore {
    async fn add_totp(&self, factor: &TotpFactorRecord) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO totp_factors (user_id, sealed_secret, confirmed_at, last_step, failures) \
             VALUES ($1, $2, $3, $4, 0) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(&factor.user_id)
        .bind(&factor.sealed_secret)
        .bind(factor.confirmed_at)
        .bind(factor.last_step)
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || "one-time-code app".to_owned()))?;
        Ok(result.rows_affected() == 1)
    }

    async fn find_totp(&self, user_id: &str) -> Result<Option<TotpFactorRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, sealed_secret, confirmed_at, last_step, failures \
             FROM totp_factors WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.map(|row| {
            Ok(TotpFactorRecord {
                user_id: row.try_get("user_id").map_err(unavailable)?,
                sealed_secret: row.try_get("sealed_secret").map_err(unavailable)?,
                confirmed_at: row.try_get("confirmed_at").map_err(unavailable)?,
                last_step: row.try_get("last_step").map_err(unavailable)?,
                failures: row.try_get("failures").map_err(unavailable)?,
            })
        })
        .transpose()
    }

    async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE totp_factors SET last_step = $1, failures = 0 \
             WHERE user_id = $2 AND last_step < $1",
        )
        .bind(step)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn count_factor_failure(&self, user_id: &str) -> Result<i64, StoreError> {
        // Every row is read, so the statement runs to its end and its write commits at once.
        let rows = sqlx::query(
            "UPDATE totp_factors SET failures = failures + 1 WHERE user_id = $1 \
             RETURNING failures",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.first()
            .map_or(Ok(0), |row| row.try_get("failures").map_err(unavailable))
    }

    async fn clear_factor_failures(&self, user_id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE totp_factors SET failures = 0 WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[Vec<u8>],
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        for hash in hashes {
            sqlx::query(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
            )
            .bind(user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *transaction)
            .await
            .map_err(|error| crate::error::from_sqlx(error, || "recovery code".to_owned()))?;
        }
        transaction.commit().await.map_err(unavailable)
    }

    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &[u8],
        now: UnixSeconds,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 \
             WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(hash)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn unused_recovery_codes(&self, user_id: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query(
            "SELECT COUNT(*) AS unused FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .and_then(|row| row.try_get("unused"))
        .map_err(unavailable)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn delete_factors(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let app = sqlx::query("DELETE FROM totp_factors WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let codes = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let passkeys = sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(app.rows_affected() + codes.rows_affected() + passkeys.rows_affected() > 0)
    }
}
