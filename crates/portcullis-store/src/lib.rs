//! Persistence for Portcullis: the SQL backends of the store ports of `portcullis-service`.
//!
//! [`SqlStore`] implements every port on embedded SQLite or PostgreSQL. Each dialect has its own
//! migrations; the same conformance tests (`tests/conformance.rs`) run against every backend,
//! these and Redis.

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod sql;

pub use sql::{Dialect, PoolSettings, SqlStore, is_postgres_url};
