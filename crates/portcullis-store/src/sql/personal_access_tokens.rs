//! [`PersonalAccessTokenStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::personal_access_token::{PersonalAccessToken, TokenOwner};
use portcullis_core::{ScopeSet, SecretHash, UnixSeconds};
use portcullis_service::{PersonalAccessTokenStore, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, token_hash, user_id, client_id, name, scope, networks, created_at, expires_at, last_used_at";

fn token_from_row(row: &AnyRow) -> Result<PersonalAccessToken, StoreError> {
    let corrupt = |what: &str| StoreError::Unavailable(format!("stored token has a bad {what}"));
    let user: Option<String> = row.try_get("user_id").map_err(unavailable)?;
    let client: Option<String> = row.try_get("client_id").map_err(unavailable)?;
    let owner = match (user, client) {
        (Some(user), None) => TokenOwner::User(user),
        (None, Some(client)) => TokenOwner::Client(client),
        _ => return Err(corrupt("owner")),
    };
    let hash: Vec<u8> = row.try_get("token_hash").map_err(unavailable)?;
    let scope: String = row.try_get("scope").map_err(unavailable)?;
    let networks: String = row.try_get("networks").map_err(unavailable)?;
    Ok(PersonalAccessToken {
        id: row.try_get("id").map_err(unavailable)?,
        owner,
        name: row.try_get("name").map_err(unavailable)?,
        scope: ScopeSet::parse(&scope).map_err(|_| corrupt("scope"))?,
        networks: networks.split_whitespace().map(str::to_owned).collect(),
        hash: SecretHash::from_bytes(&hash).ok_or_else(|| corrupt("hash"))?,
        created_at: row.try_get("created_at").map_err(unavailable)?,
        expires_at: row.try_get("expires_at").map_err(unavailable)?,
        last_used_at: row.try_get("last_used_at").map_err(unavailable)?,
    })
}

/// The owner's column.
fn owner_column(owner: &TokenOwner) -> &'static str {
    match owner {
        TokenOwner::User(_) => "user_id",
        TokenOwner::Client(_) => "client_id",
    }
}

#[async_trait]
impl PersonalAccessTokenStore for SqlStore {
    async fn add_personal_access_token(
        &self,
        token: &PersonalAccessToken,
    ) -> Result<(), StoreError> {
        let (user, client) = match &token.owner {
            TokenOwner::User(id) => (Some(id.as_str()), None),
            TokenOwner::Client(id) => (None, Some(id.as_str())),
        };
        sqlx::query(&format!(
            "INSERT INTO personal_access_tokens ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&token.id)
        .bind(token.hash.as_bytes())
        .bind(user)
        .bind(client)
        .bind(&token.name)
        .bind(token.scope.to_string())
        .bind(token.networks.join(" "))
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.last_used_at)
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || "personal access token".to_owned()))?;
        Ok(())
    }

    async fn personal_access_tokens_of(
        &self,
        owner: &TokenOwner,
    ) -> Result<Vec<PersonalAccessToken>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM personal_access_tokens WHERE {} = $1 \
             ORDER BY created_at DESC, id",
            owner_column(owner)
        ))
        .bind(owner.id())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn find_personal_access_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<PersonalAccessToken>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM personal_access_tokens WHERE token_hash = $1"
        ))
        .bind(hash.as_bytes())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn record_personal_access_token_use(
        &self,
        id: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE personal_access_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_personal_access_token(
        &self,
        owner: &TokenOwner,
        id: &str,
    ) -> Result<Option<PersonalAccessToken>, StoreError> {
        let row = sqlx::query(&format!(
            "DELETE FROM personal_access_tokens WHERE {} = $1 AND id = $2 RETURNING {COLUMNS}",
            owner_column(owner)
        ))
        .bind(owner.id())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn purge_personal_access_tokens(&self, before: UnixSeconds) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM personal_access_tokens WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
