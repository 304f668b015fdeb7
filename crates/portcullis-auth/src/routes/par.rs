//! `POST /par` (RFC 9126 §2): an authenticated client pushes its authorization request and gets
//! the `request_uri` to send the browser to `/authorize` with.

use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::request_object::RequestObjectRefusal;
use crate::state::AppState;
use crate::token_request::authenticate_client;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::AuditEvent;
use portcullis_core::pushed_request::CLIENT_AUTHENTICATION_PARAMETERS;
use portcullis_service::PushError;
use portcullis_types::OAuthErrorCode;
use std::net::SocketAddr;

/// 201 with the `request_uri` and `expires_in` (§2.2), or a §2.3 error.
pub(super) async fn push(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match pushed(&state, &headers, remote_addr, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn pushed(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    // §2.1: the client authenticates as at the token endpoint.
    let client = authenticate_client(state, headers, &params, remote_addr).await?;
    let mut pairs = params.pairs_except(&CLIENT_AUTHENTICATION_PARAMETERS);
    // RFC 9126 §3: a pushed request object is verified now; its parameters are what is kept.
    if params.get("request").is_some() {
        match crate::request_object::open_for(
            state,
            &client,
            &OAuthParams::from_pairs(pairs.clone()),
        )
        .await
        {
            Ok(Some(opened)) => pairs = opened.pairs_except(&[]),
            Ok(None) => {}
            Err(RequestObjectRefusal::Invalid { reason, .. }) => {
                state.audit.record(&AuditEvent::PushedRequestRefused {
                    client_id: client.id.clone(),
                    error: "invalid_request_object".to_owned(),
                });
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidRequestObject,
                    reason,
                ));
            }
            Err(RequestObjectRefusal::Store(error)) => return Err(OAuthError::from_store(&error)),
        }
    }
    // Basic authentication names the client outside the form: the request names it too.
    if !pairs.iter().any(|(name, _)| name == "client_id") {
        pairs.push(("client_id".to_owned(), client.id.clone()));
    }
    let request = OAuthParams::from_pairs(pairs.clone()).authorization_params();
    let client_ip = crate::client_ip::client_ip(state, headers, remote_addr).to_string();
    match state
        .pushed_requests()
        .push(
            &client,
            &request,
            &pairs,
            &client_ip,
            portcullis_service::Pusher::AuthenticatedClient,
        )
        .await
    {
        Ok(pushed) => Ok((
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(pushed),
        )
            .into_response()),
        Err(error) => {
            let error = match error {
                PushError::Refused { code, description } => OAuthError::new(
                    match code {
                        "invalid_scope" => OAuthErrorCode::InvalidScope,
                        "invalid_target" => OAuthErrorCode::InvalidTarget,
                        "unauthorized_client" => OAuthErrorCode::UnauthorizedClient,
                        _ => OAuthErrorCode::InvalidRequest,
                    },
                    description,
                ),
                // §2.3: 429 for too many requests.
                PushError::TooMany => {
                    state.audit.record(&AuditEvent::PushedRequestRefused {
                        client_id: client.id.clone(),
                        error: "too_many_requests".to_owned(),
                    });
                    return Ok(super::too_many_requests(&PushError::TooMany.to_string()));
                }
                PushError::Randomness => {
                    OAuthError::new(OAuthErrorCode::ServerError, "internal error")
                }
                PushError::Store(error) => OAuthError::from_store(&error),
            };
            state.audit.record(&AuditEvent::PushedRequestRefused {
                client_id: client.id.clone(),
                error: error.code.as_str().to_owned(),
            });
            Err(error)
        }
    }
}
