//! [`CodeStore`] and [`GrantStore`] on SQL (SQLite and PostgreSQL): authorization codes and
//! refresh token families with the access tokens issued from them. Redemption and rotation start
//! with a conditional `UPDATE`, so the write lock is taken first and two concurrent presentations
//! of the same code or token cannot both succeed; a rotation then updates its family's row, so it
//! waits for a concurrent revocation of the family and fails after it, or is seen by it.

use super::{SqlStore, join_list, split_list, unavailable};
use async_trait::async_trait;
use portcullis_core::{
    AuthMethods, AuthorizationCodeRecord, CodeRedemption, IssuedAccessToken, RefreshOutcome,
    RefreshTokenFamily, RefreshTokenLookup, RefreshTokenRecord, RevokedFamily, UnixSeconds,
};
use portcullis_service::{CodeStore, GrantStore, StoreError};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const CODE_COLUMNS: &str = "code_hash, client_id, redirect_uri, code_challenge, nonce, scopes, \
                            audiences, user_id, sid, auth_time, expires_at, amr";
const FAMILY_COLUMNS: &str = "id, client_id, user_id, sid, scopes, audiences, auth_time, \
                              created_at, expires_at, revoked_at, dpop_jkt, amr";

/// The family columns qualified by the alias `f`, for joins (`RETURNING` takes them bare).
fn qualified_family_columns() -> String {
    FAMILY_COLUMNS
        .split(", ")
        .map(|column| format!("f.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Replayed or extended codes and families are kept this long after expiry, then purged.
const RETENTION_AFTER_EXPIRY_SECS: i64 = 24 * 60 * 60;

fn code_from_row(row: &AnyRow) -> Result<AuthorizationCodeRecord, StoreError> {
    Ok(AuthorizationCodeRecord {
        code_hash: row.try_get("code_hash").map_err(unavailable)?,
        client_id: row.try_get("client_id").map_err(unavailable)?,
        redirect_uri: row.try_get("redirect_uri").map_err(unavailable)?,
        code_challenge: row.try_get("code_challenge").map_err(unavailable)?,
        nonce: row.try_get("nonce").map_err(unavailable)?,
        scope: row.try_get("scopes").map_err(unavailable)?,
        audiences: split_list(row.try_get("audiences").map_err(unavailable)?),
        user_id: row.try_get("user_id").map_err(unavailable)?,
        sid: row.try_get("sid").map_err(unavailable)?,
        auth_time: row.try_get("auth_time").map_err(unavailable)?,
        amr: stored_amr(row)?,
        expires_at: row.try_get("expires_at").map_err(unavailable)?,
    })
}

fn family_from_row(row: &AnyRow) -> Result<RefreshTokenFamily, StoreError> {
    Ok(RefreshTokenFamily {
        id: row.try_get("id").map_err(unavailable)?,
        client_id: row.try_get("client_id").map_err(unavailable)?,
        user_id: row.try_get("user_id").map_err(unavailable)?,
        sid: row.try_get("sid").map_err(unavailable)?,
        scope: row.try_get("scopes").map_err(unavailable)?,
        audiences: split_list(row.try_get("audiences").map_err(unavailable)?),
        auth_time: row.try_get("auth_time").map_err(unavailable)?,
        amr: stored_amr(row)?,
        created_at: row.try_get("created_at").map_err(unavailable)?,
        expires_at: row.try_get("expires_at").map_err(unavailable)?,
        revoked_at: row.try_get("revoked_at").map_err(unavailable)?,
        dpop_jkt: row.try_get("dpop_jkt").map_err(unavailable)?,
    })
}

/// The `amr` column: how the user authenticated.
fn stored_amr(row: &AnyRow) -> Result<AuthMethods, StoreError> {
    Ok(AuthMethods::parse(
        &row.try_get::<String, _>("amr").map_err(unavailable)?,
    ))
}

async fn insert_access_token(
    transaction: &mut Transaction<'static, Any>,
    family_id: &str,
    access_token: &IssuedAccessToken,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO family_access_tokens (family_id, jti, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(family_id)
    .bind(&access_token.jti)
    .bind(access_token.expires_at)
    .execute(&mut **transaction)
    .await
    .map_err(|error| crate::error::from_sqlx(error, || "access token".to_owned()))?;
    Ok(())
}

/// The families just revoked (rows of `RETURNING`), each with its access tokens, read in the same
/// transaction.
async fn with_access_tokens(
    transaction: &mut Transaction<'static, Any>,
    rows: &[AnyRow],
) -> Result<Vec<RevokedFamily>, StoreError> {
    let mut revoked = Vec::with_capacity(rows.len());
    for row in rows {
        let family = family_from_row(row)?;
        let tokens = sqlx::query(
            "SELECT jti, expires_at FROM family_access_tokens WHERE family_id = $1 ORDER BY expires_at",
        )
        .bind(&family.id)
        .fetch_all(&mut **transaction)
        .await
        .map_err(unavailable)?;
        let access_tokens = tokens
            .iter()
            .map(|token| {
                Ok(IssuedAccessToken {
                    jti: token.try_get("jti").map_err(unavailable)?,
                    expires_at: token.try_get("expires_at").map_err(unavailable)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        revoked.push(RevokedFamily {
            family,
            access_tokens,
        });
    }
    Ok(revoked)
}

impl SqlStore {
    /// Revokes the live families matching `column = value` (`revoke_family` also returns an
    /// already revoked one) and returns them with their access tokens, in one transaction.
    async fn revoke_families_where(
        &self,
        condition: &str,
        values: &[&str],
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let sql = format!(
            "UPDATE refresh_token_families SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE {condition} RETURNING {FAMILY_COLUMNS}"
        );
        let mut query = sqlx::query(&sql).bind(now);
        for value in values {
            query = query.bind(*value);
        }
        let rows = query
            .fetch_all(&mut *transaction)
            .await
            .map_err(unavailable)?;
        let revoked = with_access_tokens(&mut transaction, &rows).await?;
        transaction.commit().await.map_err(unavailable)?;
        Ok(revoked)
    }
}

fn lookup_from_row(row: &AnyRow) -> Result<RefreshTokenLookup, StoreError> {
    let family = family_from_row(row)?;
    Ok(RefreshTokenLookup {
        record: RefreshTokenRecord {
            token_hash: row.try_get("token_hash").map_err(unavailable)?,
            family_id: family.id.clone(),
            created_at: row.try_get("token_created_at").map_err(unavailable)?,
            expires_at: row.try_get("token_expires_at").map_err(unavailable)?,
        },
        used_at: row.try_get("used_at").map_err(unavailable)?,
        family,
    })
}

fn lookup_sql() -> String {
    format!(
        "SELECT t.token_hash, t.created_at AS token_created_at, t.expires_at AS token_expires_at, \
         t.used_at, {} FROM refresh_tokens t \
         JOIN refresh_token_families f ON f.id = t.family_id WHERE t.token_hash = $1",
        qualified_family_columns()
    )
}

#[async_trait]
impl CodeStore for SqlStore {
    async fn insert_code(&self, code: &AuthorizationCodeRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO authorization_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&code.code_hash)
        .bind(&code.client_id)
        .bind(&code.redirect_uri)
        .bind(&code.code_challenge)
        .bind(&code.nonce)
        .bind(&code.scope)
        .bind(join_list(&code.audiences))
        .bind(&code.user_id)
        .bind(&code.sid)
        .bind(code.auth_time)
        .bind(code.expires_at)
        .bind(code.amr.to_string())
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || "authorization code".to_owned()))?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<CodeRedemption, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let first_use = sqlx::query(
            "UPDATE authorization_codes SET redeemed_at = $1 WHERE code_hash = $2 AND redeemed_at IS NULL",
        )
        .bind(now)
        .bind(code_hash)
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?
        .rows_affected()
            == 1;
        let row = sqlx::query(&format!(
            "SELECT {CODE_COLUMNS}, family_id, access_jti, access_expires_at \
             FROM authorization_codes WHERE code_hash = $1"
        ))
        .bind(code_hash)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(unavailable)?;
        transaction.commit().await.map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(CodeRedemption::Unknown);
        };
        let record = code_from_row(&row)?;
        if first_use {
            return Ok(CodeRedemption::Fresh(record));
        }
        let jti: Option<String> = row.try_get("access_jti").map_err(unavailable)?;
        let expiry: Option<i64> = row.try_get("access_expires_at").map_err(unavailable)?;
        Ok(CodeRedemption::Replayed {
            record,
            family_id: row.try_get("family_id").map_err(unavailable)?,
            access_token: jti
                .zip(expiry)
                .map(|(jti, expires_at)| IssuedAccessToken { jti, expires_at }),
        })
    }

    async fn record_code_tokens(
        &self,
        code_hash: &[u8],
        family_id: Option<&str>,
        access_token: &IssuedAccessToken,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE authorization_codes SET family_id = $1, access_jti = $2, access_expires_at = $3 \
             WHERE code_hash = $4",
        )
        .bind(family_id)
        .bind(&access_token.jti)
        .bind(access_token.expires_at)
        .bind(code_hash)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn create_family(
        &self,
        family: &RefreshTokenFamily,
        first: &RefreshTokenRecord,
        access_token: &IssuedAccessToken,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO refresh_token_families (id, client_id, user_id, sid, scopes, audiences, \
             auth_time, created_at, expires_at, dpop_jkt, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&family.id)
        .bind(&family.client_id)
        .bind(&family.user_id)
        .bind(&family.sid)
        .bind(&family.scope)
        .bind(join_list(&family.audiences))
        .bind(family.auth_time)
        .bind(family.created_at)
        .bind(family.expires_at)
        .bind(&family.dpop_jkt)
        .bind(family.amr.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&first.token_hash)
        .bind(&family.id)
        .bind(first.created_at)
        .bind(first.expires_at.min(family.expires_at))
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?;
        insert_access_token(&mut transaction, &family.id, access_token).await?;
        transaction.commit().await.map_err(unavailable)
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next_hash: &[u8],
        next_expires_at: UnixSeconds,
        access_token: &IssuedAccessToken,
        now: UnixSeconds,
    ) -> Result<RefreshOutcome, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let current = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(now)
        .bind(presented_hash)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(unavailable)?
        .rows_affected()
            == 1;
        let Some(row) = sqlx::query(&lookup_sql())
            .bind(presented_hash)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(unavailable)?
        else {
            return Ok(RefreshOutcome::Invalid);
        };
        let lookup = lookup_from_row(&row)?;
        let family = lookup.family;
        if current && now < family.expires_at {
            // Waits for a concurrent revocation of the family (its row lock) and then sees it:
            // a family revoked meanwhile issues nothing more.
            let live = sqlx::query(
                "UPDATE refresh_token_families SET rotated_at = $1 \
                 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&family.id)
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?
            .rows_affected()
                == 1;
            if !live {
                transaction.rollback().await.map_err(unavailable)?;
                return Ok(RefreshOutcome::Invalid);
            }
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(next_hash)
            .bind(&family.id)
            .bind(now)
            .bind(next_expires_at.min(family.expires_at))
            .execute(&mut *transaction)
            .await
            .map_err(unavailable)?;
            insert_access_token(&mut transaction, &family.id, access_token).await?;
            transaction.commit().await.map_err(unavailable)?;
            return Ok(RefreshOutcome::Rotated(family));
        }
        if !current && lookup.used_at.is_some() && family.revoked_at.is_none() {
            // RFC 9700 §4.14.2: a used refresh token presented again means one of the two
            // parties holding it is an attacker; revoke the whole family, with every access
            // token issued from it.
            let rows = sqlx::query(&format!(
                "UPDATE refresh_token_families SET revoked_at = $1 \
                 WHERE id = $2 AND revoked_at IS NULL RETURNING {FAMILY_COLUMNS}"
            ))
            .bind(now)
            .bind(&family.id)
            .fetch_all(&mut *transaction)
            .await
            .map_err(unavailable)?;
            let revoked = with_access_tokens(&mut transaction, &rows).await?;
            transaction.commit().await.map_err(unavailable)?;
            return Ok(revoked
                .into_iter()
                .next()
                .map_or(RefreshOutcome::Invalid, RefreshOutcome::Reused));
        }
        transaction.rollback().await.map_err(unavailable)?;
        Ok(RefreshOutcome::Invalid)
    }

    async fn find_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenLookup>, StoreError> {
        let row = sqlx::query(&lookup_sql())
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(lookup_from_row).transpose()
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        now: UnixSeconds,
    ) -> Result<Option<RevokedFamily>, StoreError> {
        Ok(self
            .revoke_families_where("id = $2", &[family_id], now)
            .await?
            .into_iter()
            .next())
    }

    async fn revoke_families_of_session(
        &self,
        sid: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError> {
        self.revoke_families_where("sid = $2 AND revoked_at IS NULL", &[sid], now)
            .await
    }

    async fn revoke_families_of_user(
        &self,
        user_id: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError> {
        self.revoke_families_where("user_id = $2 AND revoked_at IS NULL", &[user_id], now)
            .await
    }

    async fn revoke_families_of_client(
        &self,
        client_id: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError> {
        self.revoke_families_where("client_id = $2 AND revoked_at IS NULL", &[client_id], now)
            .await
    }

    async fn revoke_families_of_user_client(
        &self,
        user_id: &str,
        client_id: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError> {
        self.revoke_families_where(
            "user_id = $2 AND client_id = $3 AND revoked_at IS NULL",
            &[user_id, client_id],
            now,
        )
        .await
    }

    async fn purge_grants(&self, now: UnixSeconds) -> Result<u64, StoreError> {
        let horizon = now - RETENTION_AFTER_EXPIRY_SECS;
        let codes = sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= $1")
            .bind(horizon)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?
            .rows_affected();
        let access_tokens = sqlx::query("DELETE FROM family_access_tokens WHERE expires_at <= $1")
            .bind(horizon)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?
            .rows_affected();
        let families = sqlx::query(
            "DELETE FROM refresh_token_families WHERE expires_at <= $1 OR revoked_at <= $2",
        )
        .bind(now)
        .bind(horizon)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?
        .rows_affected();
        Ok(codes + access_tokens + families)
    }
}
