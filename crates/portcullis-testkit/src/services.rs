//! The real PostgreSQL and Redis of the machine, for tests that need them.
//!
//! Tests read `PORTCULLIS_TEST_POSTGRES_URL` / `PORTCULLIS_TEST_REDIS_URL` (and
//! `PORTCULLIS_TEST_REDIS_CLUSTER_URL` for a Redis Cluster). Without them a test is
//! skipped on a laptop, but when `CI=true` a missing variable fails the test: CI must never pass
//! by skipping. Each test gets its own database or key prefix and removes it afterwards, so tests
//! run in parallel and leave nothing behind.

use portcullis_jose::random_bytes;
use portcullis_redis::RedisSettings;
use sqlx::{Connection, Executor};

/// The environment variable naming the test PostgreSQL server.
pub const POSTGRES_URL_VAR: &str = "PORTCULLIS_TEST_POSTGRES_URL";
/// The environment variable naming the test Redis server.
pub const REDIS_URL_VAR: &str = "PORTCULLIS_TEST_REDIS_URL";
/// The environment variable naming the seed nodes of the test Redis Cluster, comma-separated
/// (`scripts/redis-cluster.sh` starts one and prints them).
pub const REDIS_CLUSTER_URL_VAR: &str = "PORTCULLIS_TEST_REDIS_CLUSTER_URL";

/// The value of `variable`; `None` (skip) outside CI, a panic in CI.
fn service_url(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|value| value == "true") => {
            panic!("{variable} must be set when CI=true; .ci/run sets it")
        }
        _ => {
            eprintln!("skipped: {variable} is not set");
            None
        }
    }
}

/// A fresh PostgreSQL database, dropped when this value is.
#[derive(Debug)]
pub struct TestDatabase {
    server_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates an empty database on the test server; `None` when no server is configured.
    pub async fn create() -> Option<Self> {
        let server_url = service_url(POSTGRES_URL_VAR)?;
        let name = format!("portcullis_test_{}", unique_suffix());
        let mut connection = sqlx::PgConnection::connect(&server_url)
            .await
            .expect("connect to the test PostgreSQL server");
        connection
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        let _ = connection.close().await;
        let url = with_database(&server_url, &name);
        Some(TestDatabase {
            server_url,
            name,
            url,
        })
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await; a short-lived runtime on its own thread can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut connection) = sqlx::PgConnection::connect(&server_url).await {
                    let _ = connection.execute(statement.as_str()).await;
                    let _ = connection.close().await;
                }
            });
        });
        let _ = dropped.join();
    }
}

/// `server_url` with its database replaced by `name`.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = server_url
        .split_once('?')
        .map_or((server_url, None), |(base, query)| (base, Some(query)));
    let authority_end = base.find("://").map_or(0, |scheme| scheme + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A Redis server (or Redis Cluster) and a key prefix of this test's own; its keys are deleted
/// when dropped.
#[derive(Debug)]
pub struct TestRedis {
    settings: RedisSettings,
}

impl TestRedis {
    /// The test server with a fresh prefix; `None` when no server is configured.
    pub fn create() -> Option<Self> {
        Self::from_variable(REDIS_URL_VAR, false)
    }

    /// The test Redis Cluster with a fresh prefix; `None` when no cluster is configured.
    pub fn create_cluster() -> Option<Self> {
        Self::from_variable(REDIS_CLUSTER_URL_VAR, true)
    }

    fn from_variable(variable: &str, cluster: bool) -> Option<Self> {
        Some(TestRedis {
            settings: RedisSettings {
                url: service_url(variable)?,
                prefix: format!("portcullis-test-{}", unique_suffix()),
                cluster,
            },
        })
    }

    /// The server URL (the seed list of a cluster).
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// The prefix of every key and channel this test uses.
    pub fn prefix(&self) -> &str {
        &self.settings.prefix
    }

    /// Settings for this server and prefix.
    pub fn settings(&self) -> RedisSettings {
        self.settings.clone()
    }
}

impl Drop for TestRedis {
    /// Deletes this test's keys from every node named (each master of the test cluster), one key
    /// at a time, since a cluster refuses a multi-key `DEL` across slots.
    fn drop(&mut self) {
        let pattern = format!("{}:*", self.settings.prefix);
        for node in self.settings.nodes() {
            let Ok(client) = redis::Client::open(node) else {
                continue;
            };
            let Ok(mut connection) = client.get_connection() else {
                continue;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut connection)
                .unwrap_or_default();
            for key in keys {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(key).query(&mut connection);
            }
        }
    }
}

/// A lowercase name part no other test will pick.
fn unique_suffix() -> String {
    let mut bytes = [0u8; 8];
    random_bytes(&mut bytes).expect("random bytes");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_of_a_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1/test?sslmode=disable", "x"),
            "postgres://127.0.0.1/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://127.0.0.1", "x"),
            "postgres://127.0.0.1/x"
        );
    }
}
