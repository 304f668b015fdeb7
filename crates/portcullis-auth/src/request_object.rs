//! Request objects at the edge (RFC 9101): an authorization request carrying `request` (by
//! value) or a `request_uri` of the client's (by reference, fetched from a URL it registered)
//! is replaced by the parameters of its verified object, at `/authorize`; at `/par` by value
//! only (RFC 9126 §2.1).

use crate::form::OAuthParams;
use crate::state::AppState;
use portcullis_core::Client;
use portcullis_service::StoreError;
use portcullis_service::client_directory::ClientLookupError;
use portcullis_service::request_objects::RequestObjects;
use std::sync::Arc;

/// Why a request object was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RequestObjectRefusal {
    /// `invalid_request_object` (or, for one by reference that could not be fetched,
    /// `invalid_request_uri`), with why; the client, when the request named a registered one.
    #[error("{reason}")]
    Invalid {
        /// The OAuth error code.
        code: &'static str,
        /// Why.
        reason: String,
        /// The client the plain `client_id` names.
        client: Option<Box<Client>>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RequestObjectRefusal {
    fn invalid_object(reason: String, client: Option<&Client>) -> Self {
        RequestObjectRefusal::Invalid {
            code: "invalid_request_object",
            reason,
            client: client.map(|client| Box::new(client.clone())),
        }
    }

    fn invalid_uri(reason: &str, client: &Client) -> Self {
        RequestObjectRefusal::Invalid {
            code: "invalid_request_uri",
            reason: reason.to_owned(),
            client: Some(Box::new(client.clone())),
        }
    }
}

/// The client the plain `client_id` of `params` (from `client_ip`) names and the parameters of
/// the request object `params` carries by value or by reference, if it carries one (`None`
/// otherwise). A `request_uri` of this server's pushed requests is read before this is asked.
///
/// # Errors
/// [`RequestObjectRefusal`].
pub async fn open(
    state: &AppState,
    params: &OAuthParams,
    client_ip: std::net::IpAddr,
) -> Result<Option<(Client, OAuthParams)>, RequestObjectRefusal> {
    let (by_value, by_reference) = (params.get("request"), params.get("request_uri"));
    if by_value.is_none() && by_reference.is_none() {
        return Ok(None);
    }
    // RFC 9101 §5: the plain client_id names whose keys verify the object.
    let client = match params.get("client_id") {
        Some(id) => match state.clients(client_ip).find_client(id).await {
            Ok(client) => client,
            Err(ClientLookupError::Store(error)) => return Err(error.into()),
            Err(refusal) => {
                return Err(RequestObjectRefusal::invalid_object(
                    refusal.to_string(),
                    None,
                ));
            }
        },
        None => None,
    };
    let Some(client) = client else {
        return Err(RequestObjectRefusal::invalid_object(
            "client_id must be sent beside the request object, naming a registered client"
                .to_owned(),
            None,
        ));
    };
    let object = match (by_value, by_reference) {
        (Some(object), None) => object.to_owned(),
        (None, Some(uri)) => fetch_by_reference(state, &client, uri, client_ip).await?,
        // RFC 9101 §5: never both.
        _ => {
            return Err(RequestObjectRefusal::invalid_object(
                "request and request_uri cannot both be sent".to_owned(),
                Some(&client),
            ));
        }
    };
    let opened = open_object(state, &client, params, &object).await?;
    Ok(Some((Arc::unwrap_or_clone(client), opened)))
}

/// RFC 9101 §5.2.3: the object at `uri`, one of the URLs `client` registered (so the server
/// fetches nothing a stranger names), through the SSRF-guarded client, within the fetch budget
/// of `client_ip`'s network. Every refusal reads the same: nothing is learnt of which URLs are
/// registered.
async fn fetch_by_reference(
    state: &AppState,
    client: &Client,
    uri: &str,
    client_ip: std::net::IpAddr,
) -> Result<String, RequestObjectRefusal> {
    let refused = |detail: &str| {
        // The detail is for the operator, not for whoever sent the request.
        tracing::warn!(client_id = %client.id, detail, "request object by reference refused");
        RequestObjectRefusal::invalid_uri("the request_uri cannot be used", client)
    };
    let Some(url) = client.registered_request_uri(uri) else {
        return Err(refused("not one of the client's request_uris"));
    };
    let _turn = state
        .fetch_budget
        .turn(
            state.sign_in_throttle.as_ref(),
            state.clock.now(),
            client_ip,
        )
        .await
        .map_err(|refusal| refused(&refusal.to_string()))?;
    state
        .outbound
        .get_request_object(url)
        .await
        .map_err(|error| refused(&error.to_string()))
}

/// The parameters of the request object in `params`, of `client` (already known, as at
/// `/par`), if it carries one by value.
///
/// # Errors
/// [`RequestObjectRefusal::Invalid`].
pub async fn open_for(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
) -> Result<Option<OAuthParams>, RequestObjectRefusal> {
    match params.get("request") {
        Some(object) => Ok(Some(open_object(state, client, params, object).await?)),
        None => Ok(None),
    }
}

/// The parameters of `object`, a request object of `client`, checked against the plain
/// parameters of `params`.
async fn open_object(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
    object: &str,
) -> Result<OAuthParams, RequestObjectRefusal> {
    let objects = RequestObjects {
        keys: state.client_keys.as_ref(),
        issuer: state.settings.issuer(),
        now: state.clock.now(),
        leeway_secs: state.settings.verifier_leeway_secs,
    };
    objects
        .open(client, object, &params.pairs_except(&[]))
        .await
        .map(OAuthParams::from_pairs)
        .map_err(|error| RequestObjectRefusal::invalid_object(error.to_string(), Some(client)))
}
