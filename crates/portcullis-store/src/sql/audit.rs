//! [`AuditStore`] on SQL (SQLite and PostgreSQL).

use super::{Dialect, SqlStore, unavailable};
use async_trait::async_trait;
use portcullis_core::{AuditRecord, UnixSeconds};
use portcullis_service::{AuditQuery, AuditStore, StoreError};
use sqlx::Row;

/// Rows one `INSERT` of audit events carries: a few fixed sizes, largest first, so the prepared
/// statements stay few (one statement per row made each row a round trip to the driver).
const ROWS_PER_INSERT: [usize; 3] = [64, 8, 1];

/// The `INSERT` statements of [`ROWS_PER_INSERT`] rows for `dialect`, in the same order, built
/// once. SQLite's placeholders are anonymous (`?`): the driver looks every named one up by a
/// linear search of the statement's names, which made a 320-parameter insert quadratic.
fn insert_statements(dialect: Dialect) -> &'static [String] {
    static SQLITE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    static POSTGRES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let (statements, placeholder): (_, fn(usize) -> String) = match dialect {
        Dialect::Sqlite => (&SQLITE, |_| "?".to_owned()),
        Dialect::Postgres => (&POSTGRES, |number| format!("${number}")),
    };
    statements.get_or_init(|| {
        ROWS_PER_INSERT
            .into_iter()
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let placeholders: Vec<String> = (1..=5)
                            .map(|column| placeholder(row * 5 + column))
                            .collect();
                        format!("({})", placeholders.join(", "))
                    })
                    .collect();
                format!(
                    "INSERT INTO audit_events (at, kind, subject, client_id, detail) VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(unavailable)?;
        let mut rest = records;
        for (rows, sql) in ROWS_PER_INSERT
            .into_iter()
            .zip(insert_statements(self.dialect))
        {
            while rest.len() >= rows {
                let (chunk, later) = rest.split_at(rows);
                let mut statement = sqlx::query(sql.as_str());
                for record in chunk {
                    statement = statement
                        .bind(record.at)
                        .bind(&record.kind)
                        .bind(&record.subject)
                        .bind(&record.client_id)
                        .bind(&record.detail);
                }
                statement
                    .execute(&mut *transaction)
                    .await
                    .map_err(unavailable)?;
                rest = later;
            }
        }
        transaction.commit().await.map_err(unavailable)
    }

    async fn search_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        // Only the filters that are set become conditions, each on an indexed column.
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        let mut numbers = Vec::new();
        for (column, value) in [
            ("kind", &query.kind),
            ("subject", &query.subject),
            ("client_id", &query.client_id),
        ] {
            if let Some(value) = value {
                texts.push(value.clone());
                conditions.push(format!("{column} = ${}", texts.len()));
            }
        }
        for (condition, value) in [
            ("at >=", query.since),
            ("at <", query.until),
            ("id <", query.before_id),
        ] {
            if let Some(value) = value {
                numbers.push(value);
                conditions.push(format!("{condition} ${}", texts.len() + numbers.len()));
            }
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT id, at, kind, subject, client_id, detail FROM audit_events {filter} \
             ORDER BY id DESC LIMIT ${}",
            texts.len() + numbers.len() + 1
        );
        let mut statement = sqlx::query(&sql);
        for text in texts {
            statement = statement.bind(text);
        }
        for number in numbers {
            statement = statement.bind(number);
        }
        let rows = statement
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id").map_err(unavailable)?,
                    at: row.try_get("at").map_err(unavailable)?,
                    kind: row.try_get("kind").map_err(unavailable)?,
                    subject: row.try_get("subject").map_err(unavailable)?,
                    client_id: row.try_get("client_id").map_err(unavailable)?,
                    detail: row.try_get("detail").map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn purge_audit(&self, before: UnixSeconds) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(result.rows_affected())
    }
}
