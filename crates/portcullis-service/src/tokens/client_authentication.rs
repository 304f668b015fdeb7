//! Client authentication (RFC 6749 §2.3): a confidential client's secret checked in constant
//! time, a public client identified by its id alone. Every failure is audited with its cause and
//! answered with the same `invalid_client`, so the answer reveals nothing.

use super::TokenError;
use crate::{AuditLog, ClientStore};
use portcullis_core::{AuditEvent, Client};

/// The credentials a request presented (read from the protocol's form or header at the edge;
/// its `Debug` never shows the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedCredentials {
    /// The client id.
    pub client_id: String,
    /// The secret, if any.
    pub secret: Option<String>,
}

impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PresentedCredentials")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Looks the client up and checks the presented secret; `remote_addr` goes into the audit
/// record of a failure.
///
/// # Errors
/// [`TokenError::InvalidClient`] (audited) or a store failure.
pub async fn authenticate_client(
    clients: &dyn ClientStore,
    audit: &AuditLog,
    presented: Option<PresentedCredentials>,
    remote_addr: String,
) -> Result<Client, TokenError> {
    let (client_id, reason) = match presented {
        None => (None, "no client credentials"),
        Some(presented) => match clients.find_client(&presented.client_id).await? {
            Some(client) if client.secret_is_valid(presented.secret.as_deref()) => {
                return Ok(client);
            }
            Some(_) if presented.secret.is_none() => {
                (Some(presented.client_id), "missing client secret")
            }
            Some(_) => (Some(presented.client_id), "wrong client secret"),
            None => (Some(presented.client_id), "unknown client"),
        },
    };
    audit.record(&AuditEvent::ClientAuthenticationFailed {
        client_id,
        reason: reason.to_owned(),
        remote_addr: Some(remote_addr),
    });
    Err(TokenError::InvalidClient)
}
