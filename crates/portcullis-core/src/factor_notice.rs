//! The messages that tell a user their second factors changed or were used: sent whenever email
//! is configured, so an owner who did not act learns of it at once.

use crate::{MessageText, OutgoingEmail};

/// The notice to the account's address that a recovery code was used, so an owner who did not
/// use it knows at once.
pub fn recovery_code_used_email(
    product: &str,
    to: &str,
    remaining: u64,
    account_page: &str,
) -> OutgoingEmail {
    OutgoingEmail::compose(
        to,
        format!("A recovery code was used to sign in to {product}"),
        &MessageText {
            product,
            before: &[
                "A recovery code was just used to sign in to your account, in place of your                  authenticator app.",
                &format!("{remaining} unused recovery codes are left."),
            ],
            action: Some(("Review your account", account_page)),
            after: &[
                "If it was not you, change your password and make new recovery codes at once,                  or ask an administrator to lock the account.",
            ],
        },
    )
}

/// The notice that two-step verification was turned on (`on`) or off.
pub fn two_step_changed_email(
    product: &str,
    to: &str,
    on: bool,
    account_page: &str,
) -> OutgoingEmail {
    let (subject, what) = if on {
        (
            format!("Two-step verification is on for your {product} account"),
            "An authenticator app was set up for your account: signing in now asks for its code.",
        )
    } else {
        (
            format!("Two-step verification is off for your {product} account"),
            "Two-step verification was turned off for your account: signing in needs only your \
             password now.",
        )
    };
    OutgoingEmail::compose(
        to,
        subject,
        &MessageText {
            product,
            before: &[what],
            action: Some(("Review your account", account_page)),
            after: &[
                "If it was not you, change your password at once and ask an administrator to \
                 reset your two-step verification.",
            ],
        },
    )
}

/// The notice that a passkey named `name` was added (`added`) or removed.
pub fn passkey_changed_email(
    product: &str,
    to: &str,
    name: &str,
    added: bool,
    account_page: &str,
) -> OutgoingEmail {
    let (subject, what) = if added {
        (
            format!("A passkey was added to your {product} account"),
            format!("The passkey \"{name}\" was added to your account: it can sign you in."),
        )
    } else {
        (
            format!("A passkey was removed from your {product} account"),
            format!("The passkey \"{name}\" was removed from your account."),
        )
    };
    OutgoingEmail::compose(
        to,
        subject,
        &MessageText {
            product,
            before: &[&what],
            action: Some(("Review your account", account_page)),
            after: &[
                "If it was not you, change your password at once and ask an administrator to \
                 reset your two-step verification.",
            ],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_what_happened_and_link_the_account_page() {
        let on =
            two_step_changed_email("Acme", "a@example.com", true, "https://id.example/account");
        assert!(on.subject.contains("is on"));
        assert!(on.text.contains("https://id.example/account"));
        let off =
            two_step_changed_email("Acme", "a@example.com", false, "https://id.example/account");
        assert!(off.subject.contains("is off"));
        let used =
            recovery_code_used_email("Acme", "a@example.com", 9, "https://id.example/account");
        assert!(used.text.contains("9 unused recovery codes are left"));
    }
}
