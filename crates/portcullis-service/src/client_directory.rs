//! Finding the client a request names. Registered clients come from the store. When Client ID
//! Metadata Documents are on (draft-ietf-oauth-client-id-metadata-document-02), a `client_id`
//! that is an https URL and is not registered names a client described by the JSON document at
//! that URL: the document is fetched (through an SSRF-guarded fetcher at the edge), checked
//! against the registration policy, and kept in the store as a client of its own until its
//! caching time runs out, so consents, sessions and refresh tokens refer to it like to any
//! other client.

use crate::client_cache::ClientCache;
use crate::fetch_budget::{FetchBudget, FetchRefusal};
use crate::{AuditLog, SignInThrottle, Store, StoreError};
use async_trait::async_trait;
use portcullis_core::client_id_document::{
    cache_lifetime_secs, host_of, is_document_url, split_host_port,
};
use portcullis_core::client_metadata::{ClientMetadata, DynamicRegistrationPolicy};
use portcullis_core::{AuditEvent, Client, Clock};
use std::net::IpAddr;
use std::sync::Arc;

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
    /// an outsider about the server's network, or repeat the document's text) is audited.
    #[error(
        "the application's metadata document at {0} cannot be used (the server's audit log \
         says why)"
    )]
    Document(String),
    /// The requester's network made the server fetch enough for now, or too much is being
    /// fetched at once.
    #[error("the application's metadata document at {0} cannot be fetched now: try again later")]
    Busy(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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

    /// Whether `authority` is the issuer's host: any port of its host name, since pages show
    /// that name as the server's own; on one machine (plain http allowed), where services
    /// share the loopback address, only its own port.
    fn is_own_host(&self, authority: &str) -> bool {
        if self.allow_plain_http {
            authority == self.own_host
        } else {
            split_host_port(authority).0 == split_host_port(&self.own_host).0
        }
    }
}

/// Registered clients, and clients described by their metadata document, for one request.
pub struct ClientDirectory<'a> {
    /// Clients.
    pub store: &'a dyn Store,
    /// Clients recently read from the store; `None` reads the store every time (grants that
    /// leave durable state behind must not run on a copy of a client deleted a moment ago).
    pub cache: Option<&'a ClientCache>,
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

/// A failed fetch: the document refused (audited), no turn to fetch, or the store failed.
enum FetchError {
    Refused(String),
    Busy,
    Store(StoreError),
}

impl From<StoreError> for FetchError {
    fn from(error: StoreError) -> Self {
        FetchError::Store(error)
    }
}

impl From<String> for FetchError {
    fn from(reason: String) -> Self {
        FetchError::Refused(reason)
    }
}

impl ClientDirectory<'_> {
    /// The client `id`, if there is one: registered, or described by its metadata document
    /// (fetched when no fresh copy is kept).
    ///
    /// # Errors
    /// [`ClientLookupError`].
    pub async fn find_client(&self, id: &str) -> Result<Option<Arc<Client>>, ClientLookupError> {
        let stored = match self.cache.map(|cache| (cache, cache.get(id))) {
            // A copy whose document expired is read again: another server may have refreshed it.
            Some((_, (Some(cached), _)))
                if !cached.is_described_by_document() || self.document_is_fresh(&cached) =>
            {
                Some(cached)
            }
            Some((cache, (_, lookup))) => {
                let stored = self.store.find_client(id).await?.map(Arc::new);
                if let Some(client) = &stored {
                    cache.keep(lookup, client);
                }
                stored
            }
            None => self.store.find_client(id).await?.map(Arc::new),
        };
        if !self.policy.metadata_documents {
            // Turned off: clients known by their documents are gone with it.
            return Ok(stored.filter(|client| !client.is_described_by_document()));
        }
        match &stored {
            // Registered by an administrator or itself: never fetched (draft §7.2).
            Some(client) if !client.is_described_by_document() => return Ok(stored),
            Some(client) if self.document_is_fresh(client) => return Ok(stored),
            _ => {}
        }
        if !is_document_url(id, self.documents.allow_plain_http) {
            return Ok(None);
        }
        let host = host_of(id).to_owned();
        match self.fetch(id, stored.as_deref()).await {
            Ok(client) => {
                self.audit
                    .record(&AuditEvent::ClientMetadataDocumentFetched {
                        client_id: id.to_owned(),
                    });
                Ok(Some(Arc::new(client)))
            }
            Err(FetchError::Store(error)) => Err(error.into()),
            // Not audited: the budget exists so that refusals cannot flood the log.
            Err(FetchError::Busy) => Err(ClientLookupError::Busy(host)),
            Err(FetchError::Refused(reason)) => {
                self.audit
                    .record(&AuditEvent::ClientMetadataDocumentRefused {
                        client_id: id.to_owned(),
                        reason,
                    });
                Err(ClientLookupError::Document(host))
            }
        }
    }

    /// Whether `client`'s copy of its metadata document is still within its caching time.
    fn document_is_fresh(&self, client: &Client) -> bool {
        client
            .metadata_document_expires_at
            .is_some_and(|expires_at| expires_at > self.clock.now())
    }

    /// Fetches the document of client `url`, checks it, and stores the client it describes in
    /// place of `stored`, the copy whose time ran out.
    async fn fetch(&self, url: &str, stored: Option<&Client>) -> Result<Client, FetchError> {
        if self.documents.is_own_host(host_of(url)) {
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
                Err(FetchRefusal::Throttled | FetchRefusal::Busy) => return Err(FetchError::Busy),
            };
            // Another request may have fetched it while this one waited.
            if let Some(fresh) = self
                .store
                .find_client(url)
                .await?
                .filter(|client| self.document_is_fresh(client))
            {
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
                now.saturating_add(cache_lifetime_secs(document.cache_control.as_deref())),
            )
            .map_err(|error| error.to_string())?;
        if let Some(old) = stored {
            // A client's type is fixed (its grants and tokens were given to that type): a
            // document that changes it is refused until an administrator deletes the client.
            if old.kind != client.kind {
                return Err(
                    "the document changes the client's type; an administrator must delete \
                     the client first"
                        .to_owned()
                        .into(),
                );
            }
            let updated = self.store.update_client(&client).await?;
            if let Some(cache) = self.cache {
                cache.forget(&client.id);
            }
            if updated {
                return Ok(client);
            }
            // Purged meanwhile: stored anew below.
        }
        if self.store.count_self_described_clients().await? >= self.policy.max_clients {
            return Err("this server keeps no more self-described clients"
                .to_owned()
                .into());
        }
        match self.store.create_client(&client).await {
            // Another request stored it first.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(client)
    }
}
