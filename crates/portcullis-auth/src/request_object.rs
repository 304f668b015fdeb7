//! Request objects at the edge (RFC 9101): an authorization request carrying `request` is
//! replaced by the parameters of its verified object, at `/authorize` and at `/par`.

use crate::form::OAuthParams;
use crate::state::AppState;
use portcullis_core::Client;
use portcullis_service::StoreError;
use portcullis_service::client_directory::{ClientLookup, ClientLookupError};
use portcullis_service::request_objects::RequestObjects;

/// Why a request object was not taken.
#[derive(Debug, thiserror::Error)]
pub enum RequestObjectRefusal {
    /// `invalid_request_object`, with why; the client, when the request named a registered one.
    #[error("{reason}")]
    Invalid {
        /// Why.
        reason: String,
        /// The client the plain `client_id` names.
        client: Option<Box<Client>>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The client the plain `client_id` of `params` (from `client_ip`) names and the parameters of the request object
/// `params` carries, if it carries one (`None` otherwise).
///
/// # Errors
/// [`RequestObjectRefusal`].
pub async fn open(
    state: &AppState,
    params: &OAuthParams,
    client_ip: std::net::IpAddr,
) -> Result<Option<(Client, OAuthParams)>, RequestObjectRefusal> {
    if params.get("request").is_none() {
        return Ok(None);
    }
    // RFC 9101 §5: the plain client_id names whose keys verify the object.
    let client = match params.get("client_id") {
        Some(id) => match state.clients(client_ip).find_client(id).await {
            Ok(client) => client,
            Err(ClientLookupError::Store(error)) => return Err(error.into()),
            Err(refusal) => {
                return Err(RequestObjectRefusal::Invalid {
                    reason: refusal.to_string(),
                    client: None,
                });
            }
        },
        None => None,
    };
    let Some(client) = client else {
        return Err(RequestObjectRefusal::Invalid {
            reason: "client_id must be sent beside the request object, naming a registered client"
                .to_owned(),
            client: None,
        });
    };
    let opened = open_for(state, &client, params).await?;
    Ok(opened.map(|opened| (client, opened)))
}

/// The parameters of the request object in `params`, of `client` (already known, as at
/// `/par`), if it carries one.
///
/// # Errors
/// [`RequestObjectRefusal::Invalid`].
pub async fn open_for(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
) -> Result<Option<OAuthParams>, RequestObjectRefusal> {
    let Some(request) = params.get("request") else {
        return Ok(None);
    };
    let objects = RequestObjects {
        keys: state.client_keys.as_ref(),
        issuer: state.settings.issuer(),
        now: state.clock.now(),
        leeway_secs: state.settings.verifier_leeway_secs,
    };
    match objects
        .open(client, request, &params.pairs_except(&[]))
        .await
    {
        Ok(pairs) => Ok(Some(OAuthParams::from_pairs(pairs))),
        Err(error) => Err(RequestObjectRefusal::Invalid {
            reason: error.to_string(),
            client: Some(Box::new(client.clone())),
        }),
    }
}
