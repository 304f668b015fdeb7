//! A password someone chooses (an operator for an account, or the account's own user): checked
//! against the policy with the account's own words as context, and hashed, off the async threads
//! (Argon2id takes tens of milliseconds on purpose).

use portcullis_core::{PasswordError, PasswordHasher};

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
