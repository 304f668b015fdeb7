//! The SQL backends, one implementation over `sqlx`'s `Any` driver with a schema per dialect:
//!
//! - **SQLite**, embedded: one file, WAL journal, `synchronous=FULL`, so an acknowledged write
//!   survives a crash of the process or of the machine.
//! - **PostgreSQL**, shared by several auth servers: every statement is a single autocommitted
//!   statement or an explicit transaction, so a write is acknowledged only once PostgreSQL has
//!   committed it.
//!
//! Queries use `$N` placeholders, which both dialects accept, and only types both share
//! (integers, text, bytes); each dialect has its own migrations.

mod audit;
mod clients;
mod device_grants;
mod factors;
mod federation;
mod federation_providers;
mod grants;
mod keys;
mod logout_notices;
mod outbox;
mod passkeys;
mod password_reset;
mod personal_access_tokens;
mod pushed_requests;
mod queue;
mod registration;
mod revocations;
mod roles;
mod sessions;
mod users;

use async_trait::async_trait;
use portcullis_service::{Store, StoreError};
use sqlx::AnyPool;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::path::Path;
use std::time::Duration;

/// Which database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// How a PostgreSQL pool is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Connections held at most.
    pub max_connections: u32,
    /// How long a request waits for a free connection (or for the server to answer a new one)
    /// before it fails as unavailable.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A store in an SQL database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlStore {
    /// Unexpired rows of `table` for `client_id` made by `by` (in `by_column`) at `now`: what a
    /// client has pending (pushed requests, device codes). Table and column are this crate's
    /// constants, never input.
    async fn pending_count(
        &self,
        table: &'static str,
        by_column: &'static str,
        client_id: &str,
        by: &str,
        now: portcullis_core::UnixSeconds,
    ) -> Result<u64, StoreError> {
        use sqlx::Row;
        let pending: i64 = sqlx::query(&format!(
            "SELECT COUNT(*) AS pending FROM {table} \
             WHERE client_id = $1 AND {by_column} = $2 AND expires_at > $3"
        ))
        .bind(client_id)
        .bind(by)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?
        .try_get("pending")
        .map_err(unavailable)?;
        Ok(u64::try_from(pending).unwrap_or(u64::MAX))
    }

    /// Opens `location`: a `postgres://` or `postgresql://` URL, or else the path of an embedded
    /// SQLite file.
    ///
    /// # Errors
    /// As [`SqlStore::open_sqlite`] and [`SqlStore::connect_postgres`].
    pub async fn open(location: &str, pool: PoolSettings) -> Result<Self, StoreError> {
        if is_postgres_url(location) {
            Self::connect_postgres(location, pool).await
        } else {
            Self::open_sqlite(Path::new(location)).await
        }
    }

    /// Opens (creating if needed) the SQLite database at `path` and applies pending migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub async fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let path_text = path.to_string_lossy();
        let encoded = percent_encoding::utf8_percent_encode(&path_text, &SQLITE_PATH_RESERVED);
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    // Durability and integrity are per connection in SQLite.
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 5000",
                    ] {
                        connection.execute(pragma).await?;
                    }
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{encoded}?mode=rwc"))
            .await
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot open {}: {error}", path.display()))
            })?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        Ok(SqlStore {
            pool,
            dialect: Dialect::Sqlite,
        })
    }

    /// Connects to PostgreSQL at `url` and applies pending migrations. Several servers may start
    /// at once: the migrator holds a PostgreSQL advisory lock while it applies them, so each
    /// migration runs exactly once. Connections are checked before each use, so a restarted
    /// server is reconnected to without restarting Portcullis.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached or the schema migrated.
    pub async fn connect_postgres(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(true)
            .connect(url)
            .await
            .map_err(|error| {
                StoreError::Unavailable(format!("cannot connect to PostgreSQL: {error}"))
            })?;
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(|error| StoreError::Unavailable(format!("migration failed: {error}")))?;
        Ok(SqlStore {
            pool,
            dialect: Dialect::Postgres,
        })
    }

    /// The database this store talks to.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The rows of `columns` from `table` whose text `column` starts with `prefix`, after the
    /// cursor `after`, in byte order, at most `limit`. Keys compare bytewise on both dialects
    /// (PostgreSQL through the `COLLATE "C"` indexes of migrations 0005 and 0006), so a prefix is
    /// the key range [prefix, prefix + U+10FFFF) and the whole query is one index range scan,
    /// never a full scan.
    async fn prefix_page(
        &self,
        (table, columns, column): (&str, &str, &str),
        prefix: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<Vec<sqlx::any::AnyRow>, StoreError> {
        let key = match self.dialect {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!(r#"{column} COLLATE "C""#),
        };
        let upper = format!("{prefix}{}", char::MAX);
        // One lower bound, so the range scan starts at the cursor, not at the prefix.
        let (lower, operator) = match after {
            Some(after) if after >= prefix => (after, ">"),
            _ => (prefix, ">="),
        };
        sqlx::query(&format!(
            "SELECT {columns} FROM {table} \
             WHERE {key} {operator} $1 AND {key} < $2 ORDER BY {key} LIMIT $3"
        ))
        .bind(lower)
        .bind(upper)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)
    }

    /// Closes every connection, waiting for them to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether `location` names a PostgreSQL server rather than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Characters of a file path that would change the meaning of a `sqlite://` URL.
const SQLITE_PATH_RESERVED: percent_encoding::AsciiSet = percent_encoding::CONTROLS
    .add(b'%')
    .add(b'?')
    .add(b'#')
    .add(b' ');

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.pool
            .execute("SELECT 1")
            .await
            .map(drop)
            .map_err(unavailable)
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
