//! One lazily opened, shared connection to Redis that fails fast while Redis is down.

use crate::RedisError;
use portcullis_store::StoreError;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After a failure, calls fail at once for this long instead of each waiting for a timeout.
const BACKOFF: Duration = Duration::from_millis(500);
/// Connecting, and each command, give up after this long.
const TIMEOUT: Duration = Duration::from_millis(250);

/// A multiplexed connection, opened on first use and reopened after a failure.
pub struct RedisLink {
    client: redis::Client,
    state: Mutex<LinkState>,
    connect: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct LinkState {
    connection: Option<MultiplexedConnection>,
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisLink")
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl RedisLink {
    /// A link to `url`; nothing is opened yet.
    ///
    /// # Errors
    /// [`RedisError::InvalidUrl`].
    pub fn new(url: &str) -> Result<Self, RedisError> {
        let client =
            redis::Client::open(url).map_err(|error| RedisError::InvalidUrl(error.to_string()))?;
        Ok(RedisLink {
            client,
            state: Mutex::new(LinkState::default()),
            connect: tokio::sync::Mutex::new(()),
        })
    }

    /// The client, for connections of their own (pub/sub).
    pub fn client(&self) -> &redis::Client {
        &self.client
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
    pub async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(connection) = self.ready()? {
            return Ok(connection);
        }
        // One task connects; the others wait for its result.
        let _connecting = self.connect.lock().await;
        if let Some(connection) = self.ready()? {
            return Ok(connection);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
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
    pub async fn store_connection(&self) -> Result<MultiplexedConnection, StoreError> {
        self.connection()
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))
    }

    /// Records a failed store command and turns it into [`StoreError::Unavailable`].
    pub fn store_failure(&self, error: &redis::RedisError) -> StoreError {
        self.failed();
        StoreError::Unavailable(format!("Redis: {error}"))
    }

    fn ready(&self) -> Result<Option<MultiplexedConnection>, RedisError> {
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
