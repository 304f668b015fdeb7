//! Why an administrative action was refused or failed.

use crate::StoreError;
use portcullis_core::{ClientError, PasswordError, RoleError, UserError};
use thiserror::Error;

/// A refused or failed administrative action; the CLI prints it, the admin API maps it to its
/// JSON error type.
#[derive(Debug, Error)]
pub enum AdminError {
    /// No such object.
    #[error("no {kind} `{id}`")]
    NotFound {
        /// `user`, `role`, `client`, `session` or `consent`.
        kind: &'static str,
        /// What was asked for.
        id: String,
    },
    /// The object exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// A field is invalid.
    #[error("{message}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong, for the operator.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Something the server needs is broken (randomness, password hashing).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl AdminError {
    pub(super) fn not_found(kind: &'static str, id: &str) -> Self {
        AdminError::NotFound {
            kind,
            id: id.to_owned(),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => AdminError::Conflict(what),
            other => AdminError::Store(other),
        }
    }
}

impl From<UserError> for AdminError {
    fn from(error: UserError) -> Self {
        AdminError::Invalid {
            field: error.field(),
            message: error.to_string(),
        }
    }
}

impl From<RoleError> for AdminError {
    fn from(error: RoleError) -> Self {
        AdminError::Invalid {
            field: error.field(),
            message: error.to_string(),
        }
    }
}

impl From<ClientError> for AdminError {
    fn from(error: ClientError) -> Self {
        AdminError::Invalid {
            field: error.field(),
            message: error.to_string(),
        }
    }
}

impl From<PasswordError> for AdminError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::TooShort { .. }
            | PasswordError::TooLong
            | PasswordError::TooGuessable(_) => AdminError::Invalid {
                field: "password",
                message: error.to_string(),
            },
            PasswordError::InvalidParameters(_)
            | PasswordError::UnreadableHash
            | PasswordError::HashingFailed => {
                tracing::error!(%error, "password hashing failed");
                AdminError::Internal("password hashing")
            }
        }
    }
}
