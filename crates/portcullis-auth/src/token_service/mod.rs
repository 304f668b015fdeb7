//! The token endpoint's work (RFC 6749 §3.2, §4.1.3, §4.4, §6): authenticate the client, decide
//! the grant, mint the tokens, audit. The handler only moves bytes in and out.

pub(crate) mod issuance;

use crate::client_auth::{self, AuthenticationFailure};
use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::state::AppState;
use axum::http::HeaderMap;
use issuance::IdTokenContext;
use portcullis_core::grant::authorization_code::{self, CodeExchange};
use portcullis_core::grant::client_credentials::{self, ClientCredentialsRequest};
use portcullis_core::grant::refresh_token;
use portcullis_core::{AuditEvent, Client, CodeRedemption, RefreshOutcome, ScopeSet};
use portcullis_jose::sha256;
use portcullis_types::{GrantType, OAuthErrorCode, TokenResponse};
use std::net::SocketAddr;

/// Authenticates the client of a request to the token, revocation or introspection endpoint;
/// failures are audited and answered with a uniform `invalid_client`.
///
/// # Errors
/// `invalid_client`, `invalid_request` or a store failure.
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &OAuthParams,
    remote_addr: SocketAddr,
) -> Result<Client, OAuthError> {
    let presented = client_auth::presented_credentials(headers, params)?;
    match client_auth::authenticate(state.store.as_ref(), presented).await {
        Ok(client) => Ok(client),
        Err(Ok(AuthenticationFailure { client_id, reason })) => {
            state.audit.record(&AuditEvent::ClientAuthenticationFailed {
                client_id,
                reason: reason.to_owned(),
                remote_addr: Some(
                    crate::client_ip::client_ip(state, headers, remote_addr).to_string(),
                ),
            });
            Err(OAuthError::invalid_client())
        }
        Err(Err(error)) => Err(error),
    }
}

/// Handles one token request.
///
/// # Errors
/// The OAuth error to return; failures are audited here.
pub async fn handle_token_request(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    let client = authenticate_client(state, headers, &params, remote_addr).await?;
    let result = issue_for_client(state, &client, &params).await;
    if let Err(error) = &result {
        state.audit.record(&AuditEvent::TokenRequestRefused {
            client_id: client.id.clone(),
            error: error.code.as_str().to_owned(),
        });
    }
    result
}

async fn issue_for_client(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let grant = grant_type.parse::<GrantType>();
    if let Ok(grant) = grant {
        // Checked before a code or refresh token is touched, so a client that may not use the
        // grant cannot burn another client's code.
        if !client.allows_grant(grant) {
            return Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                format!("client is not allowed to use {grant}"),
            ));
        }
    }
    match grant {
        Ok(GrantType::ClientCredentials) => {
            let grant = client_credentials::grant(
                client,
                &ClientCredentialsRequest {
                    scope: params.get("scope").map(str::to_owned),
                    resources: params.all("resource"),
                    audiences: params.all("audience"),
                },
                &state.settings.token_policy,
            )?;
            Ok(issuance::response(
                issuance::access_token(state, &grant)?,
                None,
                None,
            ))
        }
        Ok(GrantType::AuthorizationCode) => exchange_code(state, client, params).await,
        Ok(GrantType::RefreshToken) => refresh(state, client, params).await,
        Err(_) => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!(
                "grant_type `{}` is not supported",
                grant_type.chars().take(64).collect::<String>()
            ),
        )),
    }
}

fn store_error(error: portcullis_store::StoreError) -> OAuthError {
    OAuthError::from_store(&error)
}

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6).
async fn exchange_code(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
) -> Result<TokenResponse, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let code_hash = sha256(code.as_bytes());
    let now = state.clock.now();
    let record = match state
        .codes
        .redeem_code(&code_hash, now)
        .await
        .map_err(store_error)?
    {
        CodeRedemption::Fresh(record) => record,
        CodeRedemption::Unknown => return Err(invalid_grant("code is invalid")),
        CodeRedemption::Replayed {
            record,
            family_id,
            access_token,
        } => {
            // RFC 6749 §4.1.2: a code used twice must be refused, and the tokens previously
            // issued from it should be revoked: the refresh family with every access token it
            // produced, and the code's own access token.
            let revoker = state.revoker();
            if let Some(family_id) = family_id {
                revoker
                    .revoke_family(&family_id, now)
                    .await
                    .map_err(store_error)?;
            }
            revoker
                .revoke_access_tokens(access_token.as_slice(), now)
                .await
                .map_err(store_error)?;
            state.audit.record(&AuditEvent::ReplayDetected {
                grant_type: GrantType::AuthorizationCode.as_str().to_owned(),
                client_id: client.id.clone(),
                user_id: record.user_id,
            });
            return Err(invalid_grant(
                "code was already used; tokens issued from it are revoked",
            ));
        }
    };
    let user = state
        .store
        .find_user_by_id(&record.user_id)
        .await
        .map_err(store_error)?;
    let Some(user) = user else {
        return Err(invalid_grant("user is no longer active"));
    };
    let exchange = CodeExchange {
        redirect_uri: params.get("redirect_uri"),
        code_verifier: params.get("code_verifier"),
    };
    let grant = authorization_code::grant(
        client,
        &record,
        exchange,
        &user,
        &state.settings.token_policy,
        now,
    )?;
    let access = issuance::access_token(state, &grant)?;
    let id_token = issuance::id_token_if_openid(
        state,
        &user,
        IdTokenContext {
            client,
            scope: &grant.scope,
            sid: &record.sid,
            auth_time: record.auth_time,
            nonce: record.nonce.clone(),
            access_token: &access.token,
        },
    )?;
    let (refresh_token, family_id) = if issuance::wants_refresh_token(client, &grant.scope) {
        let (token, family_id) =
            issuance::start_refresh_family(state, &grant, &user.id, &access).await?;
        (Some(token), Some(family_id))
    } else {
        (None, None)
    };
    state
        .codes
        .record_code_tokens(&code_hash, family_id.as_deref(), &access.issued())
        .await
        .map_err(store_error)?;
    Ok(issuance::response(access, refresh_token, id_token))
}

/// RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2). The new access token's
/// `jti` is stored with the rotation, in one transaction, so a revocation of the family (reuse
/// detected by another server at the same moment) revokes it too, or the rotation fails.
async fn refresh(
    state: &AppState,
    client: &Client,
    params: &OAuthParams,
) -> Result<TokenResponse, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let presented_hash = sha256(presented.as_bytes());
    let lookup = state
        .store
        .find_refresh_token(&presented_hash)
        .await
        .map_err(store_error)?
        .ok_or_else(|| invalid_grant("refresh token is invalid"))?;
    let scope: ScopeSet = refresh_token::check(client, &lookup.family, params.get("scope"))?;
    let user = state
        .store
        .find_user_by_id(&lookup.family.user_id)
        .await
        .map_err(store_error)?;
    let grant = refresh_token::grant(
        client,
        &lookup.family,
        scope,
        user.as_ref(),
        &state.settings.token_policy,
    )?;
    let now = state.clock.now();
    let (next_token, next_hash) = issuance::new_refresh_token()?;
    let next_expiry = now + state.settings.sign_in.refresh_token_sliding_secs;
    let claims = issuance::access_token_claims(state, &grant)?;
    let family = match state
        .store
        .rotate_refresh_token(
            &presented_hash,
            &next_hash,
            next_expiry,
            &issuance::issued(&claims),
            now,
        )
        .await
        .map_err(store_error)?
    {
        RefreshOutcome::Rotated(family) => family,
        RefreshOutcome::Invalid => {
            return Err(invalid_grant(
                "refresh token is invalid, expired or revoked",
            ));
        }
        RefreshOutcome::Reused(revoked) => {
            state
                .revoker()
                .revoke_tokens_of(std::slice::from_ref(&revoked), now)
                .await
                .map_err(store_error)?;
            state.audit.record(&AuditEvent::ReplayDetected {
                grant_type: GrantType::RefreshToken.as_str().to_owned(),
                client_id: client.id.clone(),
                user_id: revoked.family.user_id,
            });
            return Err(invalid_grant(
                "refresh token was already used; the grant is revoked",
            ));
        }
    };
    let access = issuance::sign_access_token(state, claims, grant.grant_type.as_str())?;
    let id_token = match &user {
        Some(user) => issuance::id_token_if_openid(
            state,
            user,
            IdTokenContext {
                client,
                scope: &grant.scope,
                sid: &family.sid,
                auth_time: family.auth_time,
                nonce: None,
                access_token: &access.token,
            },
        )?,
        None => None,
    };
    Ok(issuance::response(access, Some(next_token), id_token))
}
