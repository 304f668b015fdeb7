//! One lazily opened, shared connection to Redis (a single server or a Redis Cluster) that fails
//! fast while Redis is down.

use crate::{RedisError, RedisSettings};
use portcullis_service::StoreError;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After a failure, calls fail at once for this long instead of each waiting for a timeout.
const BACKOFF: Duration = Duration::from_millis(500);
/// Connecting, and each command, give up after this long.
const TIMEOUT: Duration = Duration::from_millis(250);
/// A cluster command may be redirected (`MOVED`/`ASK`) or retried during a failover, within this.
const CLUSTER_OVERALL_TIMEOUT: Duration = Duration::from_secs(1);

/// A multiplexed connection, opened on first use and reopened after a failure.
pub struct RedisLink {
    endpoint: Endpoint,
    state: Mutex<LinkState>,
    connect: tokio::sync::Mutex<()>,
}

/// What the link connects to.
enum Endpoint {
    Single(redis::Client),
    Cluster(Box<ClusterClient>),
}

/// An open connection: to one server, or to a cluster (commands are routed by their keys'
/// slots, and multi-key scripts keep their keys in one slot with a hash tag).
#[derive(Clone)]
pub enum RedisConnection {
    /// One Redis server.
    Single(MultiplexedConnection),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(connection) => connection.req_packed_command(cmd),
            RedisConnection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
            RedisConnection::Cluster(connection) => {
                connection.req_packed_commands(pipeline, offset, count)
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(connection) => connection.get_db(),
            RedisConnection::Cluster(connection) => connection.get_db(),
        }
    }
}

#[derive(Default)]
struct LinkState {
    connection: Option<RedisConnection>,
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisLink")
            .field("cluster", &matches!(self.endpoint, Endpoint::Cluster(_)))
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl RedisLink {
    /// A link to the Redis of `settings`; nothing is opened yet.
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`].
    pub fn new(settings: &RedisSettings) -> Result<Self, RedisError> {
        let invalid = |error: redis::RedisError| RedisError::InvalidUrl(error.to_string());
        let endpoint = if settings.cluster {
            ClusterClient::builder(settings.nodes())
                .connection_timeout(TIMEOUT)
                .response_timeout(TIMEOUT)
                .overall_response_timeout(Some(CLUSTER_OVERALL_TIMEOUT))
                .retries(3)
                .min_retry_wait(10)
                .max_retry_wait(200)
                .build()
                .map(|client| Endpoint::Cluster(Box::new(client)))
                .map_err(invalid)?
        } else {
            redis::Client::open(settings.url.as_str())
                .map(Endpoint::Single)
                .map_err(invalid)?
        };
        Ok(RedisLink {
            endpoint,
            state: Mutex::new(LinkState::default()),
            connect: tokio::sync::Mutex::new(()),
        })
    }

    /// Whether a connection is open and has not failed since.
    pub fn is_connected(&self) -> bool {
        self.lock().connection.is_some()
    }

    /// The open connection, opening one if needed.
    ///
    /// # Errors
    /// [`RedisError::Unavailable`] at once within the back-off after a failure, or when
    /// connecting fails.
    pub async fn connection(&self) -> Result<RedisConnection, RedisError> {
        if let Some(connection) = self.ready()? {
            return Ok(connection);
        }
        // One task connects; the others wait for its result.
        let _connecting = self.connect.lock().await;
        if let Some(connection) = self.ready()? {
            return Ok(connection);
        }
        match self.open().await {
            Ok(connection) => {
                let mut state = self.lock();
                state.connection = Some(connection.clone());
                state.failed_at = None;
                Ok(connection)
            }
            Err(error) => {
                self.failed();
                Err(RedisError::Unavailable(error.to_string()))
            }
        }
    }

    async fn open(&self) -> redis::RedisResult<RedisConnection> {
        match &self.endpoint {
            Endpoint::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(RedisConnection::Single)
            }
            Endpoint::Cluster(client) => {
                // Discovering the slots may ask several nodes; it is bounded like a command.
                tokio::time::timeout(CLUSTER_OVERALL_TIMEOUT, client.get_async_connection())
                    .await
                    .map_err(|_| {
                        redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
                    })?
                    .map(RedisConnection::Cluster)
            }
        }
    }

    /// Records a failed command: the connection is dropped and calls fail fast for a while.
    pub fn failed(&self) {
        let mut state = self.lock();
        state.connection = None;
        state.failed_at = Some(Instant::now());
    }

    /// [`RedisLink::connection`] for a store: failures are [`StoreError::Unavailable`].
    ///
    /// # Errors
    /// As [`RedisLink::connection`].
    pub async fn store_connection(&self) -> Result<RedisConnection, StoreError> {
        self.connection()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    /// Records a failed store command and turns it into [`StoreError::Unavailable`].
    pub fn store_failure(&self, error: &redis::RedisError) -> StoreError {
        self.failed();
        StoreError::Unavailable(format!("Redis: {error}"))
    }

    fn ready(&self) -> Result<Option<RedisConnection>, RedisError> {
        let state = self.lock();
        if let Some(connection) = &state.connection {
            return Ok(Some(connection.clone()));
        }
        if state.failed_at.is_some_and(|at| at.elapsed() < BACKOFF) {
            return Err(RedisError::Unavailable(
                "failed recently; backing off".into(),
            ));
        }
        Ok(None)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
