//! [`RoleStore`] on SQL (SQLite and PostgreSQL).

use super::{SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{Role, ScopeSet, UnixSeconds};
use portcullis_service::{RoleStore, StoreError};
use sqlx::Row;

#[async_trait]
impl RoleStore for SqlStore {
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError> {
        let rows = sqlx::query("SELECT name, scopes, description FROM roles ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name").map_err(unavailable)?;
                let scopes: String = row.try_get("scopes").map_err(unavailable)?;
                let scopes = if scopes.is_empty() {
                    ScopeSet::default()
                } else {
                    ScopeSet::parse(&scopes)
                        .map_err(|_| StoreError::Corrupt(format!("role `{name}`: scopes")))?
                };
                Ok(Role {
                    name,
                    scopes,
                    description: row.try_get("description").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn put_role(&self, role: &Role, now: UnixSeconds) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO roles (name, scopes, description, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET scopes = excluded.scopes, \
             description = excluded.description, updated_at = excluded.updated_at",
        )
        .bind(&role.name)
        .bind(role.scopes.to_string())
        .bind(role.description.clone())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn delete_role(&self, name: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected() > 0)
    }
}
