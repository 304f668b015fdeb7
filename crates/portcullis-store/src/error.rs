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

/// As [`from_sqlx`], naming the conflict by the first of `indexes` (`(index name, what)`) that
/// the database names in its error (PostgreSQL as the constraint, SQLite in the message), and
/// by `otherwise` when none is named.
pub(crate) fn from_sqlx_naming(
    error: sqlx::Error,
    indexes: &[(&str, &str)],
    otherwise: impl FnOnce() -> String,
) -> StoreError {
    let named = match &error {
        sqlx::Error::Database(database) => indexes.iter().find(|(index, _)| {
            database.constraint() == Some(*index) || database.message().contains(index)
        }),
        _ => None,
    };
    match named {
        Some((_, what)) => from_sqlx(error, || (*what).to_owned()),
        None => from_sqlx(error, otherwise),
    }
}
