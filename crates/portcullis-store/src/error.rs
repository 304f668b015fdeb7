//! Maps driver errors to the ports' [`StoreError`].

use portcullis_service::StoreError;

/// Maps a driver error; `what` names the record for conflict messages.
pub(crate) fn from_sqlx(error: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Conflict(what())
        }
        _ => StoreError::Unavailable(error.to_string()),
    }
}
