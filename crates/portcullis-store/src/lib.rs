//! Persistence for Portcullis.
//!
//! One trait per aggregate ([`UserStore`], [`ClientStore`], [`SigningKeyStore`]) and a [`Store`]
//! that combines them, so callers hold an `Arc<dyn Store>` and never know the backend. Each backend
//! is one module with its own migrations; the same conformance tests (`tests/conformance.rs`) run
//! against every backend.

mod error;
pub mod sqlite;

pub use error::StoreError;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use portcullis_core::{Client, SecretHash, SigningKeyRecord, UnixSeconds, User};

/// Users, addressed by username (case-insensitively).
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user. [`StoreError::Conflict`] if the username is taken in any letter case.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// The user with this username, in any letter case.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// All users, by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Deletes a user; `false` if there was none.
    async fn delete_user(&self, username: &str) -> Result<bool, StoreError>;
    /// Replaces the password hash; `false` if there is no such user.
    async fn set_password_hash(&self, username: &str, hash: &str) -> Result<bool, StoreError>;
    /// Replaces the roles; `false` if there is no such user.
    async fn set_roles(&self, username: &str, roles: &[String]) -> Result<bool, StoreError>;
    /// Disables (`Some(time)`) or enables (`None`) a user; `false` if there is no such user.
    async fn set_disabled_at(
        &self,
        username: &str,
        disabled_at: Option<UnixSeconds>,
    ) -> Result<bool, StoreError>;
}

/// OAuth clients, addressed by client id.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a client. [`StoreError::Conflict`] if the id is taken.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
    /// The client with this id.
    async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    /// All clients, by id.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Deletes a client; `false` if there was none.
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces a confidential client's secret hash; `false` if there is no such confidential client.
    async fn set_client_secret_hash(&self, id: &str, hash: &SecretHash)
    -> Result<bool, StoreError>;
}

/// Signing keys, private halves sealed.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Stores a new key. [`StoreError::Conflict`] if the kid exists.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// All keys, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
}

/// Every aggregate of one backend, plus a health check.
#[async_trait]
pub trait Store: UserStore + ClientStore + SigningKeyStore {
    /// Succeeds when the backend answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
}
