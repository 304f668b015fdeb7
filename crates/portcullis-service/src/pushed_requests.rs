//! Pushed authorization requests (RFC 9126): a client's authorization request, validated as the
//! authorization endpoint would and kept under a random reference; the `request_uri` naming it is
//! what the browser carries to `/authorize`, so the parameters are never seen or changed there.

use crate::{Store, StoreError};
use portcullis_core::authorize::{AuthorizationParams, AuthorizeError, validate_authorization};
use portcullis_core::pushed_request::{
    MAX_PENDING_PER_ADDRESS, MAX_PENDING_PER_CLIENT, MAX_PUSHED_BYTES,
    OPENED_REQUEST_LIFETIME_SECS, PUSHED_REQUEST_LIFETIME_SECS, PushedRequestRecord,
    REQUEST_URI_PREFIX, reference,
};
use portcullis_core::secret::storage_digest as digest;
use portcullis_core::{Client, ClientKind, Clock, TokenPolicy, UnixSeconds, generate_secret};

/// Bytes of randomness in a reference (256 bits).
const REFERENCE_BYTES: usize = 32;

/// The answer to a push (RFC 9126 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushedRequest {
    /// `urn:ietf:params:oauth:request_uri:<reference>`, for the authorization request.
    pub request_uri: String,
    /// Seconds it may wait for the browser.
    pub expires_in: i64,
}

/// A pushed request being used at `/authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedRequest {
    /// Its parameters.
    pub pairs: Vec<(String, String)>,
    /// When it was first opened: a sign-in since then satisfies its `prompt=login`.
    pub opened_at: UnixSeconds,
}

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The authorization endpoint would refuse the request: the error code (RFC 6749 §4.1.2.1)
    /// it would get, and why.
    #[error("{description}")]
    Refused {
        /// The error code.
        code: &'static str,
        /// Why.
        description: String,
    },
    /// The client has as many unexpired pushed requests as allowed.
    #[error("too many pushed requests are waiting: use them or let them expire")]
    TooMany,
    /// No randomness for the reference.
    #[error("no randomness")]
    Randomness,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pushed requests, borrowed from the server's state for one request.
pub struct PushedRequests<'a> {
    /// Where they are kept.
    pub store: &'a dyn Store,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// What an authorization request may ask for.
    pub policy: &'a TokenPolicy,
}

/// Who pushed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pusher {
    /// The client, authenticated at `/par` (RFC 9126 §2).
    AuthenticatedClient,
    /// A browser, bringing a verified request object to `/authorize` (RFC 9101).
    Browser,
}

impl PushedRequests<'_> {
    /// Keeps `client`'s authorization request `params` (whose `pairs` are stored as they came,
    /// without client authentication), pushed from `client_ip` by `pusher`, if the
    /// authorization endpoint would take it.
    ///
    /// # Errors
    /// [`PushError`].
    pub async fn push(
        &self,
        client: &Client,
        params: &AuthorizationParams,
        pairs: &[(String, String)],
        client_ip: &str,
        pusher: Pusher,
    ) -> Result<PushedRequest, PushError> {
        let refused = |description: &str| PushError::Refused {
            code: "invalid_request",
            description: description.to_owned(),
        };
        // RFC 9126 §2.1: a pushed request cannot itself point to another.
        if params.request_uri.is_some() {
            return Err(refused("request_uri cannot be pushed"));
        }
        // §2.1: the client is the authenticated one.
        if params.client_id.as_deref() != Some(client.id.as_str()) {
            return Err(refused("client_id is not the authenticated client"));
        }
        // §2.1: validated as the authorization endpoint would.
        match validate_authorization(Some(client), params, self.policy) {
            Ok(_) => {}
            Err(AuthorizeError::Untrusted(description)) => return Err(refused(&description)),
            Err(AuthorizeError::Redirect {
                code, description, ..
            }) => return Err(PushError::Refused { code, description }),
        }
        let parameters =
            serde_json::to_string(pairs).map_err(|_| refused("the parameters cannot be stored"))?;
        if parameters.len() > MAX_PUSHED_BYTES {
            return Err(refused("the request is too large"));
        }
        let reference = generate_secret(REFERENCE_BYTES).map_err(|_| PushError::Randomness)?;
        let now = self.clock.now();
        // Anyone can push for a public client, and any browser can bring a request object of
        // any client: those are counted per address, so strangers cannot use up a confidential
        // client's own allowance.
        let (pushed_by, max_pending) = match (client.kind, pusher) {
            (ClientKind::Confidential, Pusher::AuthenticatedClient) => {
                (String::new(), MAX_PENDING_PER_CLIENT)
            }
            _ => (client_ip.to_owned(), MAX_PENDING_PER_ADDRESS),
        };
        let record = PushedRequestRecord {
            reference_hash: digest(&reference),
            client_id: client.id.clone(),
            pushed_by,
            parameters,
            expires_at: now + PUSHED_REQUEST_LIFETIME_SECS,
        };
        if !self.store.push_request(&record, now, max_pending).await? {
            return Err(PushError::TooMany);
        }
        Ok(PushedRequest {
            request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
            expires_in: PUSHED_REQUEST_LIFETIME_SECS,
        })
    }

    /// The parameters `client_id` pushed as `request_uri`, if it is unexpired and theirs (RFC
    /// 9126 §4); from its first use on, it lasts while the user signs in and consents.
    ///
    /// # Errors
    /// Store failures.
    pub async fn open(
        &self,
        client_id: &str,
        request_uri: &str,
    ) -> Result<Option<OpenedRequest>, StoreError> {
        let Some(reference) = reference(request_uri) else {
            return Ok(None);
        };
        let now = self.clock.now();
        let parameters = self
            .store
            .open_pushed_request(
                &digest(reference),
                client_id,
                now,
                now + OPENED_REQUEST_LIFETIME_SECS,
            )
            .await?;
        Ok(parameters.and_then(|opened| {
            Some(OpenedRequest {
                pairs: serde_json::from_str(&opened.parameters).ok()?,
                opened_at: opened.opened_at,
            })
        }))
    }

    /// Ends `request_uri` once its authorization request was answered (RFC 9126 §4: one use):
    /// `false` if another answer ended it first, whose answer alone may be sent.
    ///
    /// # Errors
    /// Store failures.
    pub async fn finish(&self, request_uri: &str) -> Result<bool, StoreError> {
        match reference(request_uri) {
            Some(reference) => self.store.finish_pushed_request(&digest(reference)).await,
            None => Ok(false),
        }
    }
}
