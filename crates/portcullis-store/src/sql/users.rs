//! [`UserStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, join_list, split_list, unavailable};
use async_trait::async_trait;
use portcullis_core::{UnixSeconds, User, Username};
use portcullis_service::{ADDRESS_IN_USE, StoreError, UserSearch, UserStore};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The unique index of addresses in lower case (migration 0009), named in its conflicts.
pub(super) const EMAIL_INDEX: &str = "users_by_email_key";

pub(super) const USER_COLUMNS: &str =
    "id, username, roles, email, email_verified_at, password_hash, created_at, disabled_at";

pub(super) fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let username: String = row.try_get("username").map_err(unavailable)?;
    Ok(User {
        id: row.try_get("id").map_err(unavailable)?,
        username: Username::parse(&username)
            .map_err(|_| StoreError::Corrupt(format!("username `{username}`")))?,
        roles: split_list(row.try_get("roles").map_err(unavailable)?),
        email: row.try_get("email").map_err(unavailable)?,
        email_verified_at: row.try_get("email_verified_at").map_err(unavailable)?,
        password_hash: row.try_get("password_hash").map_err(unavailable)?,
        created_at: row.try_get("created_at").map_err(unavailable)?,
        disabled_at: row.try_get("disabled_at").map_err(unavailable)?,
    })
}

/// Inserts `user` through `executor` (the pool, or a transaction). [`StoreError::Conflict`] names
/// what is taken: the username, or the address (one account per address in any letter case).
pub(super) async fn insert_user<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    user: &User,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, username, username_key, roles, email, email_verified_at, \
         password_hash, created_at, disabled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&user.id)
    .bind(user.username.as_str())
    .bind(user.username.key())
    .bind(join_list(&user.roles))
    .bind(&user.email)
    .bind(user.email_verified_at)
    .bind(&user.password_hash)
    .bind(user.created_at)
    .bind(user.disabled_at)
    .execute(executor)
    .await
    .map_err(|error| {
        crate::error::from_sqlx_naming(error, &[(EMAIL_INDEX, ADDRESS_IN_USE)], || {
            format!("user `{}`", user.username)
        })
    })?;
    Ok(())
}

impl SqlStore {
    async fn update_user(
        &self,
        sql: &str,
        value: impl for<'q> sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send,
        username: &str,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(sql)
            .bind(value)
            .bind(username.to_ascii_lowercase())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        insert_user(&self.pool, user).await
    }

    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username_key = $1"
        ))
        .bind(username.to_ascii_lowercase())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn find_users_by_email(&self, email_key: &str) -> Result<Vec<User>, StoreError> {
        // By the `lower(email)` index of migration 0008 (unique since 0009).
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(email) = $1 ORDER BY created_at, id"
        ))
        .bind(email_key)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username_key"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn search_users(&self, search: &UserSearch) -> Result<Vec<User>, StoreError> {
        let prefix = search
            .prefix
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let after = search.after.as_deref().map(str::to_ascii_lowercase);
        let rows = self
            .prefix_page(
                ("users", USER_COLUMNS, "username_key"),
                prefix,
                after,
                search.limit,
            )
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn set_email(
        &self,
        username: &str,
        email: Option<&str>,
        verified_at: Option<UnixSeconds>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE users SET email = $1, email_verified_at = $2 WHERE username_key = $3",
        )
        .bind(email.map(str::to_owned))
        .bind(verified_at)
        .bind(username.to_ascii_lowercase())
        .execute(&self.pool)
        .await
        .map_err(|error| crate::error::from_sqlx(error, || ADDRESS_IN_USE.into()))?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete_user(&self, username: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM users WHERE username_key = $1")
            .bind(username.to_ascii_lowercase())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() == 1)
    }

    async fn set_password_hash(&self, username: &str, hash: &str) -> Result<bool, StoreError> {
        self.update_user(
            "UPDATE users SET password_hash = $1 WHERE username_key = $2",
            hash.to_owned(),
            username,
        )
        .await
    }

    async fn set_roles(&self, username: &str, roles: &[String]) -> Result<bool, StoreError> {
        self.update_user(
            "UPDATE users SET roles = $1 WHERE username_key = $2",
            join_list(roles),
            username,
        )
        .await
    }

    async fn set_disabled_at(
        &self,
        username: &str,
        disabled_at: Option<UnixSeconds>,
    ) -> Result<bool, StoreError> {
        self.update_user(
            "UPDATE users SET disabled_at = $1 WHERE username_key = $2",
            disabled_at,
            username,
        )
        .await
    }
}
