//! Storage errors, independent of the backend.

use thiserror::Error;

/// What a [`StoreError::Conflict`] names when another account has the address (one account per
/// address, in any letter case).
pub const ADDRESS_IN_USE: &str = "an account with this email address";

/// What a [`StoreError::Conflict`] names when the upstream identity is linked already, or the
/// account already has a link to that provider.
pub const IDENTITY_LINKED: &str = "a link to this provider";

/// What went wrong in the store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A unique key (username, client id, kid) is already taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The backend cannot be reached or refused the operation; retrying later may succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A stored row cannot be read back into the domain (manual edits or a bug).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}
