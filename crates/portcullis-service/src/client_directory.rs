//! Finding the client a request names. Registered clients come from the store. When Client ID
//! Metadata Documents are on (draft-ietf-oauth-client-id-metadata-document-02), a `client_id`
//! that is an https URL and is not registered names a client described by the JSON document at
//! that URL: the document is fetched (through an SSRF-guarded fetcher at the edge), checked
//! against the registration policy, and kept in the store as a client of its own until its
//! caching time runs out, so consents, sessions and refresh tokens refer to it like to any
//! other client.

use crate::fetch_budget::{FetchBudget, FetchRefusal};
use crate::{AuditLog, SignInThrottle, Store, StoreError};
use async_trait::async_trait;
use portcullis_core::client_id_document::{cache_lifetime_secs, host_of, is_document_url};
use portcullis_core::client_metadata::{ClientMetadata, DynamicRegistrationPolicy};
use portcullis_core::{AuditEvent, Client, Clock};
use std::net::IpAddr;

/// A metadata document as fetched: its body and its `Cache-Control` header.
#[derive(Debug, Clone)]
pub struct FetchedDocument {
    /// The JSON body, at most the fetcher's size limit.
    pub body: Vec<u8>,
    /// The `Cache-Control` header, if any.
    pub cache_control: Option<String>,
}

/// Fetches metadata documents: `GET` the URL, 200 with a JSON body only, no redirects, with
/// time and size limits and the server's address rules (draft §5, §8.6, §8.7).
#[async_trait]
pub trait ClientDocumentFetcher: Send + Sync {
    /// The document at `url`, or why it could not be fetched.
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, String>;
}

/// Why the client a request names could not be found.
#[derive(Debug, thiserror::Error)]
pub enum ClientLookupError {
    /// The client's metadata document could not be fetched or was refused (draft §5.1: the
    /// request is aborted). What is shown names only the host: the reason (which could tell
    /// an outsider about the server's network, or repeat the document's text) goes to the
    /// audit log.
    #[error(
        "the application's metadata document at {host} cannot be used (the server's audit log \
         says why)"
    )]
    Document {
        /// The host serving the document.
        host: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Looks clients up by the id a request names.
#[async_trait]
pub trait ClientLookup: Send + Sync {
    /// The client `id`, if there is one.
    ///
    /// # Errors
    /// [`ClientLookupError`].
    async fn find_client(&self, id: &str) -> Result<Option<Client>, ClientLookupError>;
}

/// How metadata documents are fetched, shared by all requests.
pub struct ClientDocuments {
    fetcher: Box<dyn ClientDocumentFetcher>,
    allow_plain_http: bool,
    own_host: String,
}

impl ClientDocuments {
    /// Documents fetched by `fetcher`; `allow_plain_http` takes `http://` client ids too (for a
    /// stack on one machine, with the fetcher allowing private addresses). Documents on
    /// `issuer`'s own host are refused: whatever its users can store there would pass for an
    /// application the server vouches for.
    pub fn new(
        fetcher: Box<dyn ClientDocumentFetcher>,
        allow_plain_http: bool,
        issuer: &str,
    ) -> Self {
        ClientDocuments {
            fetcher,
            allow_plain_http,
            own_host: host_of(issuer).to_ascii_lowercase(),
        }
    }
}

/// Registered clients, and clients described by their metadata document, for one request.
pub struct ClientDirectory<'a> {
    /// Clients.
    pub store: &'a dyn Store,
    /// How documents are fetched.
    pub documents: &'a ClientDocuments,
    /// Whether documents are taken, and what their clients may be.
    pub policy: &'a DynamicRegistrationPolicy,
    /// The ceiling of token lifetimes.
    pub max_lifetime_secs: i64,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// What each network may make the server fetch.
    pub budget: &'a FetchBudget,
    /// Counts the fetches.
    pub throttle: &'a dyn SignInThrottle,
    /// The address the request came from.
    pub requester: IpAddr,
}

/// Why a document was refused, and whether that is audited (a throttled request is not: the
/// throttle exists so that refusals cannot flood the log).
struct Refusal {
    reason: String,
    audited: bool,
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Refusal {
            reason,
            audited: true,
        }
    }
}

/// A failed fetch: the document refused, or the store failed.
enum FetchError {
    Refused(Refusal),
    Store(StoreError),
}

impl From<StoreError> for FetchError {
    fn from(error: StoreError) -> Self {
        FetchError::Store(error)
    }
}

impl From<String> for FetchError {
    fn from(reason: String) -> Self {
        FetchError::Refused(reason.into())
    }
}

#[async_trait]
impl ClientLookup for ClientDirectory<'_> {
    async fn find_client(&self, id: &str) -> Result<Option<Client>, ClientLookupError> {
        let stored = self.store.find_client(id).await?;
        if !self.policy.metadata_documents {
            // Turned off: clients known by their documents are gone with it.
            return Ok(stored.filter(|client| !client.is_described_by_document()));
        }
        match &stored {
            // Registered by an administrator or itself: never fetched (draft §7.2).
            Some(client) if !client.is_described_by_document() => return Ok(stored),
            Some(client)
                if client
                    .metadata_document_expires_at
                    .is_some_and(|expires_at| expires_at > self.clock.now()) =>
            {
                return Ok(stored);
            }
            _ => {}
        }
        if !is_document_url(id, self.documents.allow_plain_http) {
            return Ok(None);
        }
        match self.fetch(id, stored.as_ref()).await {
            Ok(client) => {
                self.audit
                    .record(&AuditEvent::ClientMetadataDocumentFetched {
                        client_id: id.to_owned(),
                    });
                Ok(Some(client))
            }
            Err(FetchError::Store(error)) => Err(error.into()),
            Err(FetchError::Refused(refusal)) => {
                if refusal.audited {
                    self.audit
                        .record(&AuditEvent::ClientMetadataDocumentRefused {
                            client_id: id.to_owned(),
                            reason: refusal.reason.clone(),
                        });
                }
                Err(ClientLookupError::Document {
                    host: host_of(id).to_owned(),
                    reason: refusal.reason,
                })
            }
        }
    }
}

impl ClientDirectory<'_> {
    /// Fetches the document of client `url`, checks it, and stores the client it describes in
    /// place of `stored`, the copy whose time ran out.
    async fn fetch(&self, url: &str, stored: Option<&Client>) -> Result<Client, FetchError> {
        if host_of(url).eq_ignore_ascii_case(&self.documents.own_host) {
            return Err("documents on this server's own host are not taken"
                .to_owned()
                .into());
        }
        if !self.policy.takes_documents_from(url) {
            return Err(
                "its host is not among those this server takes documents from"
                    .to_owned()
                    .into(),
            );
        }
        let document = {
            let _turn = match self
                .budget
                .turn(self.throttle, self.clock.now(), self.requester)
                .await
            {
                Ok(turn) => turn,
                Err(FetchRefusal::Store(error)) => return Err(error.into()),
                // Not audited: the budget exists so that refusals cannot flood the log.
                Err(refusal @ FetchRefusal::Throttled) => {
                    return Err(FetchError::Refused(Refusal {
                        reason: refusal.to_string(),
                        audited: false,
                    }));
                }
                Err(refusal @ FetchRefusal::Busy) => return Err(refusal.to_string().into()),
            };
            // Another request may have fetched it while this one waited.
            if let Some(fresh) = self.store.find_client(url).await?.filter(|client| {
                client
                    .metadata_document_expires_at
                    .is_some_and(|expires_at| expires_at > self.clock.now())
            }) {
                return Ok(fresh);
            }
            self.documents.fetcher.fetch(url).await?
        };
        // Draft §5.2: an invalid or malformed document is never kept.
        let metadata: ClientMetadata = serde_json::from_slice(&document.body)
            .map_err(|_| "it is not a JSON object of client metadata".to_owned())?;
        let registration = metadata
            .document_registration(url, self.policy)
            .map_err(|error| error.to_string())?;
        let now = self.clock.now();
        let client = registration
            .into_document_client(
                self.documents.allow_plain_http,
                self.max_lifetime_secs,
                stored.map_or(now, |client| client.created_at),
                now + cache_lifetime_secs(document.cache_control.as_deref()),
            )
            .map_err(|error| error.to_string())?;
        match stored {
            Some(old) if old.kind == client.kind => {
                self.store.update_client(&client).await?;
            }
            stored => {
                if stored.is_some() {
                    // A client's type is fixed in the store: one whose document changed it is
                    // stored anew, its consents and refresh tokens gone with the old one.
                    self.store.delete_client(url).await?;
                } else if self.store.count_self_registered_clients().await?
                    >= self.policy.max_clients
                {
                    return Err("this server keeps no more self-described clients"
                        .to_owned()
                        .into());
                }
                match self.store.create_client(&client).await {
                    // Another request stored it first.
                    Ok(()) | Err(StoreError::Conflict(_)) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(client)
    }
}
