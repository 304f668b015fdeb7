//! Verifying an email address: a single-use link (its token stored only as a hash) sent to the
//! address, live for an hour; a newer link supersedes older ones. The same link confirms a
//! registration's address and a change of address: the address it verifies becomes the
//! account's only when the link is followed, and the old address is told.

use crate::outbox::MessageText;
use crate::{OutgoingEmail, UnixSeconds, User};

/// How long a verification link works.
pub const VERIFICATION_LINK_LIFETIME_SECS: i64 = 60 * 60;

/// A verification link to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationLink {
    /// SHA-256 of the token in the link.
    pub token_hash: Vec<u8>,
    /// The account.
    pub user_id: String,
    /// The address it verifies (the account's, or the one it asked to change to).
    pub email: String,
    /// Where to continue after verifying (an authorization request), if anywhere.
    pub return_to: Option<String>,
    /// When it stops working.
    pub expires_at: UnixSeconds,
}

/// Whether sign-in must stop for want of a verified address under the policy
/// `require_verified_email`.
pub fn sign_in_needs_verification(require_verified_email: bool, user: &User) -> bool {
    require_verified_email && !user.email_verified()
}

/// The message carrying a verification link for an existing account: `change` when the address
/// is a new one it asked to use, otherwise its own address to confirm.
pub fn verification_email(
    product: &str,
    username: &str,
    to: &str,
    link: &str,
    change: bool,
) -> OutgoingEmail {
    let minutes = VERIFICATION_LINK_LIFETIME_SECS / 60;
    let why = if change {
        format!("The {product} account {username} asked to use this address from now on.")
    } else {
        format!("The {product} account {username} needs this address confirmed before it signs in.")
    };
    OutgoingEmail::compose(
        to,
        format!("Verify your email address for {product}"),
        &MessageText {
            product,
            before: &[
                &why,
                &format!(
                    "To confirm that the address is yours, open this link within {minutes} minutes \
                     and enter the account's password:"
                ),
            ],
            action: Some(("Verify your address", link)),
            after: &["The link works once. If you did not ask for it, ignore this message."],
        },
    )
}

/// The message telling the old address that the account now uses another.
pub fn address_changed_email(product: &str, username: &str, old: &str, new: &str) -> OutgoingEmail {
    OutgoingEmail::compose(
        old,
        format!("Your {product} email address was changed"),
        &MessageText {
            product,
            before: &[&format!(
                "The email address of the {product} account {username} was changed from {old} \
                 to {new}. Messages about the account now go to the new address."
            )],
            action: None,
            after: &["If you did not make this change, contact your administrator at once."],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewUser, Username};

    #[test]
    fn only_a_verified_address_passes_the_policy() {
        let mut user = NewUser {
            username: Username::parse("ann").expect("name"),
            roles: vec![],
            email: Some("ann@example.com".into()),
            password_hash: String::new(),
        }
        .into_user(0);
        assert!(!sign_in_needs_verification(false, &user));
        assert!(sign_in_needs_verification(true, &user));
        user.email_verified_at = Some(1);
        assert!(!sign_in_needs_verification(true, &user));
        user.email = None;
        assert!(
            sign_in_needs_verification(true, &user),
            "no address, nothing verified"
        );
    }

    #[test]
    fn messages_carry_the_link_and_both_addresses() {
        let email = verification_email(
            "Acme",
            "ann",
            "ann@new.example",
            "https://x/verify?t=1&b",
            true,
        );
        assert_eq!(email.to, "ann@new.example");
        assert!(email.text.contains("https://x/verify?t=1&b") && email.text.contains("60 minutes"));
        assert!(email.html.contains("href=\"https://x/verify?t=1&amp;b\""));
        let notice = address_changed_email("Acme", "ann", "ann@old.example", "ann@new.example");
        assert_eq!(notice.to, "ann@old.example");
        assert!(notice.text.contains("ann@new.example"));
    }
}
