//! Users: validated usernames, roles and profile data.

use crate::UnixSeconds;
use std::fmt;
use thiserror::Error;

/// Why user data was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UserError {
    /// The username breaks the rules of [`Username::parse`].
    #[error("invalid username: use 1-64 characters from letters, digits and . _ - @")]
    InvalidUsername,
    /// A role breaks the rules of [`validate_role`].
    #[error("invalid role `{0}`: use 1-64 characters from lowercase letters, digits and _ - : .")]
    InvalidRole(String),
    /// The email address is not plausible.
    #[error("invalid email address")]
    InvalidEmail,
}

impl UserError {
    /// The user field at fault, as the admin API names it.
    pub fn field(&self) -> &'static str {
        match self {
            UserError::InvalidUsername => "username",
            UserError::InvalidRole(_) => "roles",
            UserError::InvalidEmail => "email",
        }
    }
}

/// A username. Display form as given; uniqueness is case-insensitive through [`Username::key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Accepts 1-64 ASCII letters, digits and `.`, `_`, `-`, `@`.
    ///
    /// # Errors
    /// [`UserError::InvalidUsername`].
    pub fn parse(name: &str) -> Result<Self, UserError> {
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || b"._-@".contains(&byte));
        if valid {
            Ok(Username(name.to_owned()))
        } else {
            Err(UserError::InvalidUsername)
        }
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form that must be unique.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

/// Checks a role name: 1-64 of lowercase letters, digits and `_`, `-`, `:`, `.`.
///
/// # Errors
/// [`UserError::InvalidRole`].
pub fn validate_role(role: &str) -> Result<(), UserError> {
    let valid = (1..=64).contains(&role.len())
        && role.bytes().all(|byte| {
            byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-:.".contains(&byte)
        });
    if valid {
        Ok(())
    } else {
        Err(UserError::InvalidRole(role.chars().take(64).collect()))
    }
}

/// Sorts, de-duplicates and validates a list of roles.
///
/// # Errors
/// [`UserError::InvalidRole`] for the first bad role.
pub fn normalize_roles(mut roles: Vec<String>) -> Result<Vec<String>, UserError> {
    roles.iter().try_for_each(|role| validate_role(role))?;
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// A plausibility check, not RFC 5322: ASCII, one `@`, something on each side, no spaces or
/// control characters, at most 254 bytes. ASCII only, because addresses are compared in lower
/// case by the databases too, and SQLite's `lower()` folds ASCII only while PostgreSQL's folds
/// more: a non-ASCII address could compare differently in the two, and look-alike letters could
/// pass for another's address.
///
/// # Errors
/// [`UserError::InvalidEmail`].
pub fn validate_email(email: &str) -> Result<(), UserError> {
    let plausible = email.len() <= 254
        && email.is_ascii()
        && !email
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if plausible {
        Ok(())
    } else {
        Err(UserError::InvalidEmail)
    }
}

/// The address as compared with accounts' addresses, the one normalization used everywhere:
/// trimmed and in ASCII lower case; `None` when it is not a plausible address.
pub fn email_key(email: &str) -> Option<String> {
    let email = email.trim();
    validate_email(email).ok()?;
    Some(email.to_ascii_lowercase())
}

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id, used as `sub`.
    pub id: String,
    /// The username.
    pub username: Username,
    /// Roles, sorted.
    pub roles: Vec<String>,
    /// Email address, if known.
    pub email: Option<String>,
    /// When `email` was verified (its owner followed a link sent to it, or an administrator
    /// vouched for it); `None` while unverified.
    pub email_verified_at: Option<UnixSeconds>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: UnixSeconds,
    /// When the user was disabled, if they are.
    pub disabled_at: Option<UnixSeconds>,
}

impl User {
    /// Whether the account has an address and it is verified.
    pub fn email_verified(&self) -> bool {
        self.email.is_some() && self.email_verified_at.is_some()
    }
}

/// A user to create: validated input plus the already computed password hash.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The username.
    pub username: Username,
    /// Roles.
    pub roles: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
}

impl NewUser {
    /// Turns validated input into a [`User`] with a fresh random id.
    pub fn into_user(self, now: UnixSeconds) -> User {
        User {
            id: uuid::Uuid::new_v4().to_string(),
            username: self.username,
            roles: self.roles,
            email: self.email,
            email_verified_at: None,
            password_hash: self.password_hash,
            created_at: now,
            disabled_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(
            Username::parse("Alice.B-1@x").map(|name| name.key()),
            Ok("alice.b-1@x".into())
        );
        for bad in ["", "has space", "émile", "a/b", &"x".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_and_emails() {
        assert_eq!(
            normalize_roles(vec!["user".into(), "admin".into(), "user".into()]),
            Ok(vec!["admin".to_owned(), "user".to_owned()])
        );
        assert!(normalize_roles(vec!["Admin".into()]).is_err());
        assert!(validate_role("products:write").is_ok());
        assert!(validate_email("a@b.example").is_ok());
        for bad in [
            "ab",
            "@b",
            "a@",
            "a b@c",
            "a@b@c",
            "\u{c9}ve@b.example",
            "a\u{7f}@b",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert_eq!(
            email_key("  Alice@Example.COM "),
            Some("alice@example.com".into())
        );
        assert_eq!(email_key("not an address"), None);
    }
}
