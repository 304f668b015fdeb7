//! Who performs an administrative action.

use std::fmt;

/// The actor the audit log names for an administrative action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    label: String,
    subject: Option<String>,
}

impl Actor {
    /// An operator at the command line, acting directly on the database.
    pub fn command_line(os_user: &str) -> Self {
        Actor {
            label: format!("cli:{os_user}"),
            subject: None,
        }
    }

    /// Portcullis itself (such as registering the console's client at start).
    pub fn system(part: &str) -> Self {
        Actor {
            label: format!("system:{part}"),
            subject: None,
        }
    }

    /// The bearer of an admin access token: its subject through its client.
    pub fn token(subject: &str, client_id: &str) -> Self {
        Actor {
            label: format!("token:{subject}@{client_id}"),
            subject: Some(subject.to_owned()),
        }
    }

    /// The token's subject: a user's id for a user's token (a client's id for its own token).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.label)
    }
}
