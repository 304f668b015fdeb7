//! Resetting a forgotten password by email: a request names an address and is queued as it is
//! (so the answer and the work done are the same whether or not an account uses it); a background
//! task turns it into a single-use link for each active account of that address. Only the
//! link's hash is stored; it lives 15 minutes, and a newer link or its use invalidates it.

use crate::outbox::MessageText;
use crate::{OutgoingEmail, UnixSeconds};

/// How long a reset link works.
pub const RESET_LINK_LIFETIME_SECS: i64 = 15 * 60;

/// A queued request for a reset link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRequest {
    /// Its position in the queue.
    pub id: i64,
    /// The address, as [`crate::user::email_key`] normalized it.
    pub email_key: String,
    /// When it was asked for.
    pub requested_at: UnixSeconds,
}

/// A reset link to store (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetLink {
    /// SHA-256 of the token in the link.
    pub token_hash: Vec<u8>,
    /// The account.
    pub user_id: String,
    /// When it stops working.
    pub expires_at: UnixSeconds,
}

/// The message carrying a reset link.
pub fn reset_email(product: &str, username: &str, to: &str, link: &str) -> OutgoingEmail {
    let minutes = RESET_LINK_LIFETIME_SECS / 60;
    OutgoingEmail::compose(
        to,
        format!("Reset your {product} password"),
        &MessageText {
            product,
            before: &[
                &format!(
                    "Someone asked to reset the password of your {product} account {username}."
                ),
                &format!("To choose a new password, open this link within {minutes} minutes:"),
            ],
            action: Some(("Choose a new password", link)),
            after: &[
                "The link works once. If you did not ask for it, ignore this message: your \
                      password stays as it is.",
            ],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_carries_the_link_in_both_parts_and_escapes_the_html() {
        let email = reset_email(
            "Acme <ID>",
            "bob",
            "bob@example.com",
            "https://id.example/reset?token=a&b",
        );
        assert_eq!(email.subject, "Reset your Acme <ID> password");
        assert!(email.text.contains("https://id.example/reset?token=a&b"));
        assert!(
            email
                .html
                .contains("href=\"https://id.example/reset?token=a&amp;b\"")
        );
        assert!(email.html.contains("Acme &lt;ID&gt;") && !email.html.contains("<ID>"));
        assert!(email.text.contains("15 minutes"));
    }
}
