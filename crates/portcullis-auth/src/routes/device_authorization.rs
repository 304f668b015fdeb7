//! `POST /device_authorization` (RFC 8628 §3.1-3.2): a device's client asks for a device code
//! and a user code.

use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::state::AppState;
use crate::token_request::authenticate_client;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::AuditEvent;
use portcullis_core::grant::device_code::DeviceAuthorizationRequest;
use portcullis_service::device_authorization::DeviceAuthorizationError;
use portcullis_types::OAuthErrorCode;
use std::net::SocketAddr;

/// 200 with the codes (§3.2), or an RFC 6749 §5.2 error (§3.2 says errors are the token
/// endpoint's).
pub(super) async fn start(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match started(&state, &headers, remote_addr, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn started(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    // §3.1: the client authenticates as at the token endpoint (a public one names itself).
    let client = authenticate_client(state, headers, &params, remote_addr).await?;
    let request = DeviceAuthorizationRequest {
        scope: params.get("scope").map(str::to_owned),
        resources: params.all("resource"),
        audiences: params.all("audience"),
    };
    let client_ip = crate::client_ip::client_ip(state, headers, remote_addr);
    let verification_uri = state.settings.endpoint(super::paths::DEVICE);
    let refused = |error: &str| {
        state.audit.record(&AuditEvent::DeviceAuthorizationRefused {
            client_id: client.id.clone(),
            error: error.to_owned(),
        });
    };
    match state
        .device_authorizations()
        .start(&client, &request, client_ip, &verification_uri)
        .await
    {
        // RFC 6749 §5.1 applies to a response carrying a secret: not cached.
        Ok(codes) => Ok(([(header::CACHE_CONTROL, "no-store")], Json(codes)).into_response()),
        Err(DeviceAuthorizationError::TooMany) => {
            refused("too_many_requests");
            Ok(super::too_many_requests(
                &DeviceAuthorizationError::TooMany.to_string(),
            ))
        }
        Err(error) => {
            let error = match error {
                DeviceAuthorizationError::Refused(refusal) => OAuthError::from(refusal),
                DeviceAuthorizationError::Store(error) => OAuthError::from_store(&error),
                DeviceAuthorizationError::Codes | DeviceAuthorizationError::TooMany => {
                    OAuthError::new(OAuthErrorCode::ServerError, "internal error")
                }
            };
            refused(error.code.as_str());
            Err(error)
        }
    }
}
