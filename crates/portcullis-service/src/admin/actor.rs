//! Who performs an administrative action.

use std::fmt;

/// The actor the audit log names for an administrative action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// An operator at the command line, acting directly on the database.
    pub fn command_line(os_user: &str) -> Self {
        Actor(format!("cli:{os_user}"))
    }

    /// Portcullis itself (such as registering the console's client at start).
    pub fn system(part: &str) -> Self {
        Actor(format!("system:{part}"))
    }

    /// The bearer of an admin access token: its subject through its client.
    pub fn token(subject: &str, client_id: &str) -> Self {
        Actor(format!("token:{subject}@{client_id}"))
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}
