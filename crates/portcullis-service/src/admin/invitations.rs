//! Invitations to register (registration mode `invite`): single-use links an administrator
//! hands over; only their hash is stored.

use super::{AdminError, Administration};
use crate::link_token::new_link_token;
use portcullis_core::Invitation;
use portcullis_core::registration::INVITATION_LIFETIME_SECS;
use portcullis_core::user::UserError;
use portcullis_core::user::email_key;

/// The shortest and longest life of an invitation.
const LIFETIME_RANGE_SECS: std::ops::RangeInclusive<i64> = 60..=90 * 24 * 60 * 60;

/// A new invitation: the link to hand over (shown once) and when it stops working. Its `Debug`
/// leaves the link out: it is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationCreated {
    /// `{register_page}?invitation=<token>`.
    pub link: String,
    /// The address it is bound to (normalized), if any.
    pub email: Option<String>,
    /// When it stops working.
    pub expires_at: i64,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("InvitationCreated")
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Administration<'_> {
    /// Creates an invitation to `register_page`, bound to `email` if given, living
    /// `lifetime_secs` (by default [`INVITATION_LIFETIME_SECS`]).
    ///
    /// # Errors
    /// [`AdminError::Invalid`] for an implausible address or a lifetime outside a minute to 90
    /// days, or a store failure.
    pub async fn create_invitation(
        &self,
        email: Option<&str>,
        lifetime_secs: Option<i64>,
        register_page: &str,
    ) -> Result<InvitationCreated, AdminError> {
        let email_key = email
            .map(|email| email_key(email).ok_or(UserError::InvalidEmail))
            .transpose()?;
        let lifetime = lifetime_secs.unwrap_or(INVITATION_LIFETIME_SECS);
        if !LIFETIME_RANGE_SECS.contains(&lifetime) {
            return Err(AdminError::Invalid {
                field: "expires_in_secs",
                message: "an invitation lives between 60 seconds and 90 days".to_owned(),
            });
        }
        let now = self.clock.now();
        let (token, token_hash) = new_link_token()?;
        let invitation = Invitation {
            token_hash,
            email_key: email_key.clone(),
            created_by: self.actor.to_string(),
            created_at: now,
            expires_at: now + lifetime,
        };
        self.store.create_invitation(&invitation).await?;
        self.record(
            "invitation.create",
            email_key.as_deref().unwrap_or("anyone"),
        );
        Ok(InvitationCreated {
            link: format!("{register_page}?invitation={token}"),
            email: email_key,
            expires_at: invitation.expires_at,
        })
    }
}
