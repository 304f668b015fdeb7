//! The embedded SQLite backend: one file, WAL journal, `synchronous=FULL`, so an acknowledged
//! write survives a crash of the process or of the machine.

mod clients;
mod grants;
mod keys;
mod revocations;
mod sessions;
mod users;

use crate::{Store, StoreError};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// A store in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot open {}: {error}", path.display()))
            })?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        Ok(SqliteStore { pool })
    }

    /// Closes every connection, waiting for them to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        row.try_get::<i64, _>(0)
            .map(drop)
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }
}

/// Lists are stored space-separated; the domain guarantees elements contain no whitespace.
fn join_list<T: AsRef<str>>(items: &[T]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(" ")
}

fn split_list(stored: &str) -> Vec<String> {
    stored.split_whitespace().map(str::to_owned).collect()
}

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}
