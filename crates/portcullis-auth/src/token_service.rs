//! The token endpoint's work (RFC 6749 §3.2, §5): authenticate the client, decide the grant,
//! sign the access token, audit. The handler only moves bytes in and out.

use crate::audit;
use crate::client_auth::{self, AuthenticationFailure};
use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::state::AppState;
use axum::http::HeaderMap;
use portcullis_core::grant::AccessGrant;
use portcullis_core::grant::client_credentials::{self, ClientCredentialsRequest};
use portcullis_core::{AccessTokenClaims, AuditEvent, Client, generate_secret};
use portcullis_jose::sign_compact;
use portcullis_types::{GrantType, OAuthErrorCode, TokenResponse};
use std::net::SocketAddr;

/// Bytes of randomness in a `jti`.
const JTI_BYTES: usize = 16;

/// Handles one token request.
///
/// # Errors
/// The OAuth error to return; failures are audited and counted here.
pub async fn handle_token_request(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    let presented = client_auth::presented_credentials(headers, &params)?;
    let client = match client_auth::authenticate(state.store.as_ref(), presented).await {
        Ok(client) => client,
        Err(Ok(AuthenticationFailure { client_id, reason })) => {
            audit::record(&AuditEvent::ClientAuthenticationFailed {
                client_id,
                reason: reason.to_owned(),
                remote_addr: Some(remote_addr.ip().to_string()),
            });
            return Err(OAuthError::invalid_client());
        }
        Err(Err(error)) => return Err(error),
    };
    let result = issue_for_client(state, &client, &params);
    if let Err(error) = &result {
        audit::record(&AuditEvent::TokenRequestRefused {
            client_id: client.id.clone(),
            error: error.code.as_str().to_owned(),
        });
    }
    result
}

fn issue_for_client(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let grant = match grant_type.parse::<GrantType>() {
        Ok(GrantType::ClientCredentials) => client_credentials::grant(
            client,
            &ClientCredentialsRequest {
                scope: params.get("scope").map(str::to_owned),
                resources: params.all("resource"),
                audiences: params.all("audience"),
            },
            &state.settings.token_policy,
        )?,
        _ => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!(
                    "grant_type `{}` is not supported",
                    grant_type.chars().take(64).collect::<String>()
                ),
            ));
        }
    };
    issue_access_token(state, &grant)
}

/// Signs an access token for `grant` and builds the RFC 6749 §5.1 response.
fn issue_access_token(state: &AppState, grant: &AccessGrant) -> Result<TokenResponse, OAuthError> {
    let internal = |what: &str| {
        tracing::error!(what, "cannot issue access token");
        OAuthError::new(OAuthErrorCode::ServerError, "internal error")
    };
    let now = state.clock.now();
    let algorithm = state.settings.access_token_algorithm;
    let signer = state
        .keys
        .signer(algorithm, now)
        .ok_or_else(|| internal("no active signing key"))?;
    let jti = generate_secret(JTI_BYTES).map_err(|_| internal("random generator"))?;
    let claims = AccessTokenClaims::new(grant, &state.settings.token_policy, now, jti);
    let payload = serde_json::to_vec(&claims).map_err(|_| internal("claims serialization"))?;
    // RFC 9068 §2.1: access tokens carry `typ: at+jwt`.
    let access_token =
        sign_compact(&payload, "at+jwt", &signer).map_err(|_| internal("signing"))?;
    audit::record(&AuditEvent::TokenIssued {
        grant_type: grant.grant_type.as_str().to_owned(),
        client_id: claims.client_id.clone(),
        subject: claims.sub.clone(),
        jti: claims.jti.clone(),
        scope: claims.scope.clone(),
        audience: claims.aud.clone(),
    });
    state.metrics.token_issued(grant.grant_type.as_str());
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".to_owned(),
        expires_in: u64::try_from(grant.lifetime_secs).unwrap_or(0),
        scope: (!claims.scope.is_empty()).then_some(claims.scope),
        refresh_token: None,
        id_token: None,
    })
}
