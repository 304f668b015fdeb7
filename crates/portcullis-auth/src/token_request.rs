//! The token endpoint's edge: reads the form into a [`TokenRequest`], authenticates the client
//! and hands both to the service layer's [`TokenIssuer`](portcullis_service::TokenIssuer).

use crate::client_auth;
use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::state::AppState;
use axum::http::HeaderMap;
use portcullis_core::grant::client_credentials::ClientCredentialsRequest;
use portcullis_core::grant::token_exchange::{
    ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, TokenExchangeRequest,
};
use portcullis_core::{AuditEvent, Client};
use portcullis_jose::dpop::{DpopExpectations, normalize_htu, single_proof};
use portcullis_service::TokenRequest;
use portcullis_service::dpop::{ProofRefusal, use_proof};
use portcullis_service::tokens;
use portcullis_types::{GrantType, OAuthErrorCode, TokenResponse};
use std::net::SocketAddr;
use std::sync::Arc;

/// Authenticates the client of a request to the token, revocation, introspection or revocation
/// feed endpoint; failures are audited and answered with a uniform `invalid_client`.
///
/// # Errors
/// `invalid_client`, `invalid_request` or a store failure.
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &OAuthParams,
    remote_addr: SocketAddr,
) -> Result<Arc<Client>, OAuthError> {
    let presented = client_auth::presented_credentials(headers, params)?;
    let client_ip = crate::client_ip::client_ip(state, headers, remote_addr);
    // Only the client credentials grant, which stores nothing, runs on a kept copy of the client.
    let clients = match params.get("grant_type") {
        Some(grant_type) if grant_type != GrantType::ClientCredentials.as_str() => {
            state.clients_from_store(client_ip)
        }
        _ => state.clients(client_ip),
    };
    let authentication = tokens::ClientAuthentication {
        clients: &clients,
        audit: &state.audit,
        keys: state.client_keys.as_ref(),
        seen: state.client_assertions.as_ref(),
        assertion: tokens::AssertionContext {
            issuer: state.settings.issuer(),
            now: state.clock.now(),
            leeway_secs: state.settings.verifier_leeway_secs,
        },
    };
    Ok(tokens::authenticate_client(&authentication, presented, client_ip).await?)
}

/// Handles one token request.
///
/// # Errors
/// The OAuth error to return; failures are audited by the service layer.
pub async fn handle_token_request(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    let client = authenticate_client(state, headers, &params, remote_addr).await?;
    let refused = |error: &OAuthError| {
        state.audit.record(&AuditEvent::TokenRequestRefused {
            client_id: client.id.clone(),
            error: error.code.as_str().to_owned(),
        });
    };
    let request = token_request(&params).inspect_err(refused)?;
    let dpop_jkt = dpop_key(state, headers).await.inspect_err(refused)?;
    // RFC 9449 §5.2: token requests of a client registered with `dpop_bound_access_tokens`
    // MUST be rejected without a DPoP proof.
    if client.dpop_bound_access_tokens && dpop_jkt.is_none() {
        let error = OAuthError::new(
            OAuthErrorCode::InvalidDpopProof,
            "this client must prove a DPoP key with every token request".to_owned(),
        );
        refused(&error);
        return Err(error);
    }
    let mut issuer = state.token_issuer();
    issuer.dpop_jkt = dpop_jkt;
    Ok(issuer.issue(&client, request).await?)
}

/// The key a request's DPoP proof proves (its JWK thumbprint), if it sends one (RFC 9449 §5): one
/// proof, valid for `POST` to this token endpoint, recent, and never seen before.
async fn dpop_key(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let invalid = |description: &str| {
        OAuthError::new(OAuthErrorCode::InvalidDpopProof, description.to_owned())
    };
    if !headers.contains_key("dpop") {
        return Ok(None);
    }
    let proof =
        single_proof(headers.get_all("dpop").iter().map(|v| v.as_bytes())).map_err(invalid)?;
    let url = normalize_htu(&state.settings.endpoint(crate::routes::paths::TOKEN))
        .ok_or_else(|| invalid("the token endpoint's URL is not an http(s) URL"))?;
    let expected = DpopExpectations::new(
        "POST",
        &url,
        None,
        state.clock.now(),
        state.settings.verifier_leeway_secs,
    );
    let proof = use_proof(
        state.dpop_proofs.as_ref(),
        proof,
        &expected,
        state.dpop_nonces.as_deref(),
    )
    .await
    .map_err(|refusal| match refusal {
        ProofRefusal::UseNonce => {
            OAuthError::new(OAuthErrorCode::UseDpopNonce, refusal.to_string())
        }
        other => invalid(&other.to_string()),
    })?;
    Ok(Some(proof.jkt))
}

/// RFC 8693 §2.1: `subject_token` and its type, an optional `actor_token` with its type, the
/// target and scope. Only access tokens are taken and issued (`invalid_request` otherwise,
/// §2.2.2).
fn token_exchange_request(params: &OAuthParams) -> Result<TokenRequest<'_>, OAuthError> {
    let access_token_type = |name: &str| -> Result<(), OAuthError> {
        match params.get(name) {
            Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE) => Ok(()),
            Some(_) => Err(OAuthError::invalid_request(format!(
                "{name}: only access tokens ({ACCESS_TOKEN_TYPE}) are accepted"
            ))),
            None => Err(OAuthError::invalid_request(format!("{name} is required"))),
        }
    };
    let subject_token = params
        .get("subject_token")
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    access_token_type("subject_token_type")?;
    let actor_token = params.get("actor_token");
    match (actor_token, params.get("actor_token_type")) {
        (Some(_), _) => access_token_type("actor_token_type")?,
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type without actor_token",
            ));
        }
        (None, None) => {}
    }
    if params
        .get("requested_token_type")
        .is_some_and(|requested| requested != ACCESS_TOKEN_TYPE)
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type: only {ACCESS_TOKEN_TYPE} is issued"
        )));
    }
    Ok(TokenRequest::TokenExchange {
        subject_token,
        actor_token,
        request: TokenExchangeRequest {
            scope: params.get("scope").map(str::to_owned),
            resources: params.all("resource"),
            audiences: params.all("audience"),
            actor_subject: None,
        },
    })
}

/// The typed request of a token endpoint form (RFC 6749 §4.1.3, §4.4.2, §6).
fn token_request(params: &OAuthParams) -> Result<TokenRequest<'_>, OAuthError> {
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let required = |name: &'static str| {
        params
            .get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    };
    match grant_type.parse::<GrantType>() {
        Ok(GrantType::ClientCredentials) => {
            Ok(TokenRequest::ClientCredentials(ClientCredentialsRequest {
                scope: params.get("scope").map(str::to_owned),
                resources: params.all("resource"),
                audiences: params.all("audience"),
            }))
        }
        Ok(GrantType::AuthorizationCode) => Ok(TokenRequest::AuthorizationCode {
            code: required("code")?,
            redirect_uri: params.get("redirect_uri"),
            code_verifier: params.get("code_verifier"),
        }),
        Ok(GrantType::RefreshToken) => Ok(TokenRequest::RefreshToken {
            refresh_token: required("refresh_token")?,
            scope: params.get("scope"),
        }),
        Ok(GrantType::TokenExchange) => token_exchange_request(params),
        Ok(GrantType::DeviceCode) => Ok(TokenRequest::DeviceCode {
            device_code: required("device_code")?,
        }),
        Err(_) => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!(
                "grant_type `{}` is not supported",
                grant_type.chars().take(64).collect::<String>()
            ),
        )),
    }
}
