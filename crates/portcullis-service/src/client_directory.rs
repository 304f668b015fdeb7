//! Finding the client a request names. Registered clients come from the store. When Client ID
//! Metadata Documents are on (draft-ietf-oauth-client-id-metadata-document-02), a `client_id`
//! that is an https URL and is not registered names a client described by the JSON document at
//! that URL: the document is fetched (through an SSRF-guarded fetcher at the edge), checked
//! against the registration policy, and kept in the store as a client of its own until its
//! caching time runs out, so consents, sessions and refresh tokens refer to it like to any
//! other client.

use crate::{AuditLog, Store, StoreError};
use async_trait::async_trait;
use portcullis_core::client_id_document::{cache_lifetime_secs, host_of, is_document_url};
use portcullis_core::client_metadata::{ClientMetadata, DynamicRegistrationPolicy};
use portcullis_core::{AuditEvent, Client, Clock};
use tokio::sync::Semaphore;

/// Most metadata documents fetched at once; further lookups wait for a turn.
const CONCURRENT_FETCHES: usize = 8;

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
    /// request is aborted).
    #[error("the application's metadata document at {host} cannot be used: {reason}")]
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
    turns: Semaphore,
}

impl ClientDocuments {
    /// Documents fetched by `fetcher`; `allow_plain_http` takes `http://` client ids too (for a
    /// stack on one machine, with the fetcher allowing private addresses).
    pub fn new(fetcher: Box<dyn ClientDocumentFetcher>, allow_plain_http: bool) -> Self {
        ClientDocuments {
            fetcher,
            allow_plain_http,
            turns: Semaphore::new(CONCURRENT_FETCHES),
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
        let fetched = self.fetch(id, stored.as_ref()).await;
        match &fetched {
            Ok(_) => self
                .audit
                .record(&AuditEvent::ClientMetadataDocumentFetched {
                    client_id: id.to_owned(),
                }),
            Err(ClientLookupError::Document { reason, .. }) => {
                self.audit
                    .record(&AuditEvent::ClientMetadataDocumentRefused {
                        client_id: id.to_owned(),
                        reason: reason.clone(),
                    });
            }
            Err(ClientLookupError::Store(_)) => {}
        }
        fetched.map(Some)
    }
}

impl ClientDirectory<'_> {
    /// Fetches the document of client `url`, checks it, and stores the client it describes in
    /// place of `stored`, the copy whose time ran out.
    async fn fetch(&self, url: &str, stored: Option<&Client>) -> Result<Client, ClientLookupError> {
        let refused = |reason: String| ClientLookupError::Document {
            host: host_of(url).to_owned(),
            reason,
        };
        let document = {
            let _turn = self
                .documents
                .turns
                .acquire()
                .await
                .map_err(|_| refused("the server is shutting down".to_owned()))?;
            self.documents.fetcher.fetch(url).await.map_err(refused)?
        };
        // Draft §5.2: an invalid or malformed document is never kept.
        let metadata: ClientMetadata = serde_json::from_slice(&document.body)
            .map_err(|_| refused("it is not a JSON object of client metadata".to_owned()))?;
        let registration = metadata
            .document_registration(url, self.policy)
            .map_err(|error| refused(error.to_string()))?;
        let now = self.clock.now();
        let client = registration
            .into_document_client(
                self.documents.allow_plain_http,
                self.max_lifetime_secs,
                stored.map_or(now, |client| client.created_at),
                now + cache_lifetime_secs(document.cache_control.as_deref()),
            )
            .map_err(|error| refused(error.to_string()))?;
        match stored {
            Some(old) if old.kind == client.kind => {
                self.store.update_client(&client).await?;
            }
            Some(_) => {
                // A client's type is fixed in the store: one that changed is stored anew.
                self.store.delete_client(url).await?;
                self.store.create_client(&client).await?;
            }
            None => {
                if self.store.count_self_registered_clients().await? >= self.policy.max_clients {
                    return Err(refused(
                        "this server keeps no more self-described clients".to_owned(),
                    ));
                }
                match self.store.create_client(&client).await {
                    Ok(()) => {}
                    // Another request stored it first.
                    Err(StoreError::Conflict(_)) => {}
                    Err(error) => return Err(error.into()),
                }
            }
        }
        Ok(client)
    }
}
