//! Self-service registration: who may register (closed, open, or by invitation, and only with
//! an address of the allowed domains), single-use invitations, and the message an address gets
//! when someone tries to use it for another account (so a page never tells whether an address
//! has an account: the owner of the address is told instead).

use crate::email_verification::VERIFICATION_LINK_LIFETIME_SECS;
use crate::outbox::MessageText;
use crate::{OutgoingEmail, UnixSeconds, Username};

/// How long an invitation works unless its creator says otherwise.
pub const INVITATION_LIFETIME_SECS: i64 = 7 * 24 * 60 * 60;

/// Who may register at `/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegistrationMode {
    /// Nobody: accounts are created by administrators (the default).
    #[default]
    Closed,
    /// Anyone with an address of an allowed domain.
    Open,
    /// Holders of a live invitation only.
    Invite,
}

impl RegistrationMode {
    /// Parses `closed`, `open` or `invite`.
    pub fn parse(mode: &str) -> Option<Self> {
        match mode {
            "closed" => Some(RegistrationMode::Closed),
            "open" => Some(RegistrationMode::Open),
            "invite" => Some(RegistrationMode::Invite),
            _ => None,
        }
    }
}

/// The registration and verification policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationPolicy {
    /// Who may register.
    pub mode: RegistrationMode,
    /// Domains (lower case) whose addresses may register; empty: any domain.
    pub allowed_email_domains: Vec<String>,
    /// Sign-in completes only for accounts with a verified address.
    pub require_verified_email: bool,
}

/// Why a registration was refused before anything was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationRefusal {
    /// Registration is closed.
    #[error("registration is closed")]
    Closed,
    /// Invitation-only, and the invitation is missing, expired or used.
    #[error("this invitation has expired or was already used")]
    InvitationInvalid,
    /// The invitation names another address.
    #[error("use the address this invitation was sent to")]
    InvitationForAnotherAddress,
    /// The address's domain is not allowed.
    #[error("addresses of this domain cannot register here")]
    DomainNotAllowed,
}

impl RegistrationPolicy {
    /// Whether `/register` is open to someone (with an invitation in `invite` mode).
    pub fn is_enabled(&self) -> bool {
        self.mode != RegistrationMode::Closed
    }

    /// Checks a registration for `email_key` (a normalized address), with the invitation it
    /// presents (`None` if none or not live).
    ///
    /// # Errors
    /// [`RegistrationRefusal`].
    pub fn admits(
        &self,
        email_key: &str,
        invitation: Option<&Invitation>,
    ) -> Result<(), RegistrationRefusal> {
        match self.mode {
            RegistrationMode::Closed => return Err(RegistrationRefusal::Closed),
            RegistrationMode::Open => {}
            RegistrationMode::Invite => {
                let invitation = invitation.ok_or(RegistrationRefusal::InvitationInvalid)?;
                if invitation
                    .email_key
                    .as_deref()
                    .is_some_and(|bound| bound != email_key)
                {
                    return Err(RegistrationRefusal::InvitationForAnotherAddress);
                }
            }
        }
        if !self.domain_allowed(email_key) {
            return Err(RegistrationRefusal::DomainNotAllowed);
        }
        Ok(())
    }

    /// Whether the domain of `email_key` (after its last `@`, exactly, no subdomains) is allowed.
    pub fn domain_allowed(&self, email_key: &str) -> bool {
        if self.allowed_email_domains.is_empty() {
            return true;
        }
        email_key.rsplit_once('@').is_some_and(|(_, domain)| {
            self.allowed_email_domains
                .iter()
                .any(|allowed| allowed == domain)
        })
    }
}

/// A single-use invitation to register (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// SHA-256 of the token in the link.
    pub token_hash: Vec<u8>,
    /// The only address that may use it (normalized), if bound to one.
    pub email_key: Option<String>,
    /// Who created it (the audit actor).
    pub created_by: String,
    /// When it was created.
    pub created_at: UnixSeconds,
    /// When it stops working.
    pub expires_at: UnixSeconds,
}

/// A registration waiting for its address to be confirmed: the account is created only when the
/// link is followed with the password chosen here, so an address never belongs to an account
/// its owner did not confirm, and a registration reserves nothing but its username for the
/// link's lifetime (whether or not the address has an account, so that tells nothing).
#[derive(Clone, PartialEq, Eq)]
pub struct PendingRegistration {
    /// SHA-256 of the token in the link.
    pub token_hash: Vec<u8>,
    /// The chosen username.
    pub username: Username,
    /// The address, as entered.
    pub email: String,
    /// Argon2id hash of the chosen password.
    pub password_hash: String,
    /// Where to continue after confirming (an authorization request), if anywhere.
    pub return_to: Option<String>,
    /// When the link stops working.
    pub expires_at: UnixSeconds,
}

impl std::fmt::Debug for PendingRegistration {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PendingRegistration")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The message carrying the link that confirms a registration's address.
pub fn registration_email(product: &str, username: &str, to: &str, link: &str) -> OutgoingEmail {
    let minutes = VERIFICATION_LINK_LIFETIME_SECS / 60;
    OutgoingEmail::compose(
        to,
        format!("Confirm your {product} account"),
        &MessageText {
            product,
            before: &[
                &format!(
                    "Someone asked to create the {product} account {username} with this address."
                ),
                &format!(
                    "To confirm that the address is yours and create the account, open this link \
                     within {minutes} minutes and enter the password you chose:"
                ),
            ],
            action: Some(("Confirm and create the account", link)),
            after: &[
                "The link works once. If you did not ask for it, ignore this message: no account is created.",
            ],
        },
    )
}

/// The message to an address someone tried to use for another account (registering with it, or
/// changing an account's address to it): the page answered as if the address were free, and its
/// owner learns what happened and how to get in.
pub fn address_in_use_email(product: &str, to: &str, sign_in: &str, forgot: &str) -> OutgoingEmail {
    OutgoingEmail::compose(
        to,
        format!("Someone tried to use your address at {product}"),
        &MessageText {
            product,
            before: &[
                &format!(
                    "Someone tried to use this address for another {product} account. It \
                     already belongs to an account, so nothing was changed."
                ),
                &format!(
                    "If it was you, sign in at {sign_in}, or choose a new password at {forgot}."
                ),
            ],
            action: None,
            after: &["If it was not you, ignore this message: your account is unchanged."],
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(email: Option<&str>) -> Invitation {
        Invitation {
            token_hash: vec![1],
            email_key: email.map(str::to_owned),
            created_by: "cli:root".into(),
            created_at: 0,
            expires_at: 10,
        }
    }

    #[test]
    fn closed_refuses_everyone_and_open_admits_anyone() {
        let mut policy = RegistrationPolicy::default();
        assert!(!policy.is_enabled());
        assert_eq!(
            policy.admits("a@example.com", Some(&invitation(None))),
            Err(RegistrationRefusal::Closed)
        );
        policy.mode = RegistrationMode::Open;
        assert_eq!(policy.admits("a@example.com", None), Ok(()));
    }

    #[test]
    fn invite_mode_needs_an_invitation_for_the_same_address() {
        let policy = RegistrationPolicy {
            mode: RegistrationMode::Invite,
            ..RegistrationPolicy::default()
        };
        assert_eq!(
            policy.admits("a@example.com", None),
            Err(RegistrationRefusal::InvitationInvalid)
        );
        assert_eq!(
            policy.admits("a@example.com", Some(&invitation(None))),
            Ok(())
        );
        assert_eq!(
            policy.admits("a@example.com", Some(&invitation(Some("a@example.com")))),
            Ok(())
        );
        assert_eq!(
            policy.admits("b@example.com", Some(&invitation(Some("a@example.com")))),
            Err(RegistrationRefusal::InvitationForAnotherAddress)
        );
    }

    #[test]
    fn the_domain_allow_list_matches_whole_domains_only() {
        let policy = RegistrationPolicy {
            mode: RegistrationMode::Open,
            allowed_email_domains: vec!["example.com".into()],
            ..RegistrationPolicy::default()
        };
        assert!(policy.domain_allowed("a@example.com"));
        for refused in [
            "a@evil-example.com",
            "a@example.com.evil",
            "a@sub.example.com",
            "example.com@evil.test",
            "a@",
        ] {
            assert!(!policy.domain_allowed(refused), "{refused}");
        }
        assert_eq!(
            policy.admits("a@evil.test", None),
            Err(RegistrationRefusal::DomainNotAllowed)
        );
    }

    #[test]
    fn the_in_use_message_names_the_ways_in_and_escapes_html() {
        let email = address_in_use_email(
            "Acme <ID>",
            "a@example.com",
            "https://id.example/signin",
            "https://id.example/forgot",
        );
        assert!(email.text.contains("https://id.example/forgot"));
        assert!(email.html.contains("Acme &lt;ID&gt;") && !email.html.contains("<ID>"));
    }
}
