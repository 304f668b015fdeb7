//! A password someone chooses (an operator for an account, or the account's own user): checked
//! against the policy with the account's own words as context, and hashed, off the async threads
//! (Argon2id takes tens of milliseconds on purpose).

use portcullis_core::{PasswordError, PasswordHasher};
use std::sync::OnceLock;
use tokio::sync::Semaphore;

/// At most one Argon2id hash of a chosen password per core at a time, whoever asks (registration
/// is open to anyone): each takes memory (19 MiB by default), and queued requests wait here
/// holding none.
fn hashing_permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS
        .get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from)))
}

/// The Argon2id hash of `password` for the account `username` (with `email`), if the policy
/// accepts it.
///
/// # Errors
/// The policy's refusal, or a hashing failure.
pub async fn hash_chosen_password(
    hasher: &PasswordHasher,
    password: String,
    username: &str,
    email: Option<&str>,
) -> Result<String, PasswordError> {
    let _permit = hashing_permits()
        .acquire()
        .await
        .map_err(|_| PasswordError::HashingFailed)?;
    let hasher = hasher.clone();
    let context: Vec<String> = std::iter::once(username)
        .chain(email)
        .map(str::to_owned)
        .collect();
    tokio::task::spawn_blocking(move || {
        let context: Vec<&str> = context.iter().map(String::as_str).collect();
        hasher.hash_new(&password, &context)
    })
    .await
    .map_err(|_| PasswordError::HashingFailed)?
}
