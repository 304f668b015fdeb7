//! Client authentication (RFC 6749 §2.3): a confidential client's secret checked in constant
//! time, or its `private_key_jwt` assertion (RFC 7523), a public client identified by its id
//! alone; each client by the one method it is registered for. Every failure is audited with its cause and
//! answered with the same `invalid_client`, so the answer reveals nothing.

use super::TokenError;
use super::client_assertion::{AssertionContext, ClientKeyResolver, verify_client_assertion};
use crate::client_directory::{ClientDirectory, ClientLookupError};
use crate::{AuditLog, ProofReplay};
use portcullis_core::{AuditEvent, AuthenticationMethod, Client};
use std::net::IpAddr;
use std::sync::Arc;

/// The credentials a request presented (read from the protocol's form or header at the edge;
/// its `Debug` never shows the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedCredentials {
    /// The client id.
    pub client_id: String,
    /// The secret, if any.
    pub secret: Option<String>,
    /// A `private_key_jwt` assertion (RFC 7523 §2.2), if any.
    pub assertion: Option<String>,
}

impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PresentedCredentials")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("assertion", &self.assertion.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What client authentication needs besides the request: the clients, the audit log, how
/// registered keys are read, where used assertions are remembered, and what an assertion must
/// name.
#[derive(Clone, Copy)]
pub struct ClientAuthentication<'a> {
    /// Registered clients, and those described by their metadata document.
    pub clients: &'a ClientDirectory<'a>,
    /// Failures are recorded here.
    pub audit: &'a AuditLog,
    /// Keys of `private_key_jwt` clients.
    pub keys: &'a dyn ClientKeyResolver,
    /// Used assertion `jti`s.
    pub seen: &'a dyn ProofReplay,
    /// What an assertion must name.
    pub assertion: AssertionContext<'a>,
}

/// Looks the client up and checks what it presented by the one method it is registered for
/// (a secret, a `private_key_jwt` assertion, or nothing for a public client); `remote_addr` goes
/// into the audit record of a failure.
///
/// # Errors
/// [`TokenError::InvalidClient`] (audited) or a store failure.
pub async fn authenticate_client(
    authentication: &ClientAuthentication<'_>,
    presented: Option<PresentedCredentials>,
    remote_addr: IpAddr,
) -> Result<Arc<Client>, TokenError> {
    let refuse = |client_id: Option<String>, reason: String| {
        authentication
            .audit
            .record(&AuditEvent::ClientAuthenticationFailed {
                client_id,
                reason,
                remote_addr: Some(remote_addr.to_string()),
            });
        TokenError::InvalidClient
    };
    let Some(presented) = presented else {
        return Err(refuse(None, "no client credentials".to_owned()));
    };
    let found = match authentication
        .clients
        .find_client(&presented.client_id)
        .await
    {
        Ok(found) => found,
        Err(ClientLookupError::Store(error)) => return Err(error.into()),
        Err(refusal @ (ClientLookupError::Document(_) | ClientLookupError::Busy(_))) => {
            return Err(refuse(Some(presented.client_id), refusal.to_string()));
        }
    };
    let Some(client) = found else {
        return Err(refuse(
            Some(presented.client_id),
            "unknown client".to_owned(),
        ));
    };
    let method = client.authentication_method();
    let outcome = match (
        method,
        &presented.secret,
        &presented.assertion,
        &client.keys,
    ) {
        (AuthenticationMethod::ClientSecret, Some(secret), None, _) => {
            if client.secret_is_valid(Some(secret)) {
                Ok(())
            } else {
                Err("wrong client secret".to_owned())
            }
        }
        (AuthenticationMethod::ClientSecret, None, None, _) => {
            Err("missing client secret".to_owned())
        }
        (AuthenticationMethod::PrivateKeyJwt, None, Some(assertion), Some(keys)) => {
            verify_client_assertion(
                authentication.keys,
                authentication.seen,
                &client.id,
                keys,
                assertion,
                &authentication.assertion,
            )
            .await
        }
        (AuthenticationMethod::None, None, None, _) => Ok(()),
        _ => Err(format!(
            "the client is registered for {}, not the method presented",
            method.as_str()
        )),
    };
    match outcome {
        Ok(()) => Ok(client),
        Err(reason) => Err(refuse(Some(presented.client_id), reason)),
    }
}
