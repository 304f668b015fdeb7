//! Dynamic client registration (RFC 7591) and its management (RFC 7592): a client registers
//! itself within the server's policy and gets a client id (random), a secret when it has none of
//! its own keys and is not public, and a registration access token to read, replace or delete its
//! registration later. Registrations are counted per network, bounded in total, and audited.

use crate::{AuditLog, SignInThrottle, Store, StoreError};
use portcullis_core::client_metadata::{
    ClientMetadata, ClientMetadataError, DynamicRegistrationMode, DynamicRegistrationPolicy,
};
use portcullis_core::secret::CLIENT_SECRET_BYTES;
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::{AuditEvent, Client, ClientKind, Clock, SecretHash, generate_secret};
use std::net::IpAddr;

/// Random bytes of a client id (128 bits: unguessable, so nobody can squat a future id).
const CLIENT_ID_BYTES: usize = 16;
/// What self-registered client ids start with, so administrators tell them apart.
pub const SELF_REGISTERED_PREFIX: &str = "dyn-";

/// A client as registered, with the secrets shown this once (never stored; `Debug` hides them).
#[derive(Clone)]
pub struct SelfRegistered {
    /// The client.
    pub client: Client,
    /// Its secret, for a confidential client without keys.
    pub secret: Option<String>,
    /// Its registration access token (RFC 7592 §3), on creation only.
    pub registration_access_token: Option<String>,
}

impl std::fmt::Debug for SelfRegistered {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SelfRegistered")
            .field("client", &self.client.id)
            .finish_non_exhaustive()
    }
}

/// Why a registration or management request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationRefusal {
    /// Registration is off.
    #[error("dynamic client registration is not enabled")]
    Disabled,
    /// Registration needs an initial access token, and none valid came (RFC 7591 §3).
    #[error("an initial access token is required")]
    InitialTokenRequired,
    /// The metadata breaks the policy (RFC 7591 §3.2.2).
    #[error(transparent)]
    Metadata(#[from] ClientMetadataError),
    /// Too many registrations from this network, or in total.
    #[error("too many clients registered; try again later")]
    TooMany,
    /// The registration access token is missing, wrong, or the client is not self-registered
    /// (RFC 7592 §3: answered 401 whatever the cause, so nothing is learnt of other clients).
    #[error("invalid registration access token")]
    InvalidToken,
    /// No randomness for an id or a secret.
    #[error("no randomness")]
    Randomness,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Self-registration, borrowed from the server's state for one request.
pub struct ClientSelfRegistration<'a> {
    /// Clients.
    pub store: &'a dyn Store,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// What registered clients may be.
    pub policy: &'a DynamicRegistrationPolicy,
    /// The ceiling of token lifetimes.
    pub max_lifetime_secs: i64,
    /// Counts registrations per network.
    pub throttle: &'a dyn SignInThrottle,
    /// Ends a deleted client's grants.
    pub revoker: crate::Revoker<'a>,
}

impl ClientSelfRegistration<'_> {
    /// Registers the client `metadata` describes, from `client_ip`; `authorized` says whether
    /// the request carried a valid initial access token.
    ///
    /// # Errors
    /// [`RegistrationRefusal`], audited.
    pub async fn register(
        &self,
        metadata: &ClientMetadata,
        client_ip: IpAddr,
        authorized: bool,
    ) -> Result<SelfRegistered, RegistrationRefusal> {
        let result = self
            .register_unaudited(metadata, client_ip, authorized)
            .await;
        match &result {
            Ok(registered) => self.audit.record(&AuditEvent::ClientSelfRegistered {
                client_id: registered.client.id.clone(),
                remote_addr: client_ip.to_string(),
            }),
            Err(refusal) => self.refused(None, refusal, client_ip),
        }
        result
    }

    async fn register_unaudited(
        &self,
        metadata: &ClientMetadata,
        client_ip: IpAddr,
        authorized: bool,
    ) -> Result<SelfRegistered, RegistrationRefusal> {
        match self.policy.mode {
            DynamicRegistrationMode::Off => return Err(RegistrationRefusal::Disabled),
            DynamicRegistrationMode::Token if !authorized => {
                return Err(RegistrationRefusal::InitialTokenRequired);
            }
            DynamicRegistrationMode::Token | DynamicRegistrationMode::Open => {}
        }
        // Every attempt is counted first, refused or not, and never given back: a network
        // registers a few clients per window (the account rule of the sign-in throttle: then
        // locked), and cannot flood the audit log with refusals either.
        let keys = AttemptKeys::per_network("client-registration", client_ip);
        if let ThrottleDecision::Locked(_) = self.throttle.reserve(&keys, self.clock.now()).await? {
            return Err(RegistrationRefusal::TooMany);
        }
        let id = format!(
            "{SELF_REGISTERED_PREFIX}{}",
            generate_secret(CLIENT_ID_BYTES).map_err(|_| RegistrationRefusal::Randomness)?
        );
        let registration = metadata.registration(&id, self.policy)?;
        if self.store.count_self_described_clients().await? >= self.policy.max_clients {
            return Err(RegistrationRefusal::TooMany);
        }
        let secret = match (registration.kind, &registration.keys) {
            (ClientKind::Confidential, None) => Some(
                generate_secret(CLIENT_SECRET_BYTES)
                    .map_err(|_| RegistrationRefusal::Randomness)?,
            ),
            _ => None,
        };
        let token =
            generate_secret(CLIENT_SECRET_BYTES).map_err(|_| RegistrationRefusal::Randomness)?;
        let mut client = registration
            .into_client(
                secret.as_deref().map(SecretHash::of),
                self.max_lifetime_secs,
                self.clock.now(),
            )
            .map_err(|error| ClientMetadataError::InvalidMetadata(error.to_string()))?;
        client.registration_token_hash = Some(SecretHash::of(&token));
        self.store.create_client(&client).await?;
        Ok(SelfRegistered {
            client,
            secret,
            registration_access_token: Some(token),
        })
    }

    /// The self-registered client `client_id`, when `token` is its registration access token
    /// (RFC 7592 §2.1).
    ///
    /// # Errors
    /// [`RegistrationRefusal::InvalidToken`] whatever the reason, or a store failure.
    pub async fn read(&self, client_id: &str, token: &str) -> Result<Client, RegistrationRefusal> {
        let found = self.store.find_client(client_id).await?;
        match found {
            Some(client)
                if client
                    .registration_token_hash
                    .as_ref()
                    .is_some_and(|hash| hash.matches(token)) =>
            {
                Ok(client)
            }
            _ => Err(RegistrationRefusal::InvalidToken),
        }
    }

    /// Replaces the registration of `client_id` with `metadata` (RFC 7592 §2.2): every value
    /// is the new one (an omitted one is gone); the id, type, secret and token stay.
    ///
    /// # Errors
    /// [`RegistrationRefusal`], audited.
    pub async fn update(
        &self,
        client_id: &str,
        token: &str,
        metadata: &ClientMetadata,
        client_ip: IpAddr,
    ) -> Result<Client, RegistrationRefusal> {
        let result = self.update_unaudited(client_id, token, metadata).await;
        match &result {
            Ok(client) => self.audit.record(&AuditEvent::ClientRegistrationManaged {
                client_id: client.id.clone(),
                action: "update".to_owned(),
            }),
            Err(refusal) => self.refused(Some(client_id), refusal, client_ip),
        }
        result
    }

    async fn update_unaudited(
        &self,
        client_id: &str,
        token: &str,
        metadata: &ClientMetadata,
    ) -> Result<Client, RegistrationRefusal> {
        let existing = self.read(client_id, token).await?;
        // RFC 7592 §2.2: the request's client_id MUST match the one being updated.
        if metadata.client_id.as_deref() != Some(client_id) {
            return Err(ClientMetadataError::InvalidMetadata(
                "client_id must name this client".to_owned(),
            )
            .into());
        }
        let mut registration = metadata.registration(client_id, self.policy)?;
        // What an administrator set stays: an update never widens scopes or audiences beyond
        // the current registration, nor lifts a requirement.
        registration
            .scopes
            .retain(|scope| existing.scopes.contains(scope));
        registration.audiences = existing.audiences.clone();
        registration.access_token_lifetime_secs = existing.access_token_lifetime_secs;
        registration.post_logout_redirect_uris = existing.post_logout_redirect_uris.clone();
        registration.id_token_algorithm = existing.id_token_algorithm;
        registration.backchannel_logout_uri = existing.backchannel_logout_uri.clone();
        registration.require_mfa = existing.require_mfa;
        registration.request_uris = existing.request_uris.clone();
        registration.request_object_signing_alg = existing.request_object_signing_alg;
        registration.dpop_bound_access_tokens |= existing.dpop_bound_access_tokens;
        registration.require_pushed_authorization_requests |=
            existing.require_pushed_authorization_requests;
        let same_credentials = registration.kind == existing.kind
            && (registration.keys.is_some() == existing.keys.is_some());
        if !same_credentials {
            return Err(ClientMetadataError::InvalidMetadata(
                "token_endpoint_auth_method cannot change: register a new client".to_owned(),
            )
            .into());
        }
        let mut client = registration
            .into_client(
                existing.secret_hash.clone(),
                self.max_lifetime_secs,
                existing.created_at,
            )
            .map_err(|error| ClientMetadataError::InvalidMetadata(error.to_string()))?;
        client.registration_token_hash = existing.registration_token_hash;
        if !self.store.update_client(&client).await? {
            return Err(RegistrationRefusal::InvalidToken);
        }
        self.revoker.announcer.client_changed(&client.id);
        Ok(client)
    }

    /// Deletes the registration of `client_id` (RFC 7592 §2.3).
    ///
    /// # Errors
    /// [`RegistrationRefusal`], audited.
    pub async fn delete(
        &self,
        client_id: &str,
        token: &str,
        client_ip: IpAddr,
    ) -> Result<(), RegistrationRefusal> {
        let result = match self.read(client_id, token).await {
            Ok(client) => match self
                .revoker
                .delete_client(&client.id, self.clock.now())
                .await
            {
                Ok(true) => Ok(()),
                Ok(false) => Err(RegistrationRefusal::InvalidToken),
                Err(error) => Err(error.into()),
            },
            Err(refusal) => Err(refusal),
        };
        match &result {
            Ok(()) => self.audit.record(&AuditEvent::ClientRegistrationManaged {
                client_id: client_id.to_owned(),
                action: "delete".to_owned(),
            }),
            Err(refusal) => self.refused(Some(client_id), refusal, client_ip),
        }
        result
    }

    fn refused(&self, client_id: Option<&str>, refusal: &RegistrationRefusal, client_ip: IpAddr) {
        let error = match refusal {
            RegistrationRefusal::Metadata(error) => error.code(),
            RegistrationRefusal::Disabled => "disabled",
            RegistrationRefusal::InitialTokenRequired | RegistrationRefusal::InvalidToken => {
                "invalid_token"
            }
            RegistrationRefusal::TooMany => "too_many_requests",
            RegistrationRefusal::Randomness | RegistrationRefusal::Store(_) => "server_error",
        };
        self.audit.record(&AuditEvent::ClientRegistrationRefused {
            // Only an id this client proved is recorded: anyone can send any id.
            client_id: client_id
                .filter(|_| !matches!(refusal, RegistrationRefusal::InvalidToken))
                .map(str::to_owned),
            error: error.to_owned(),
            remote_addr: client_ip.to_string(),
        });
    }
}
