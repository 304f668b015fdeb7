//! `POST /revoke` (RFC 7009), `POST /introspect` (RFC 7662) and `GET /revocations`, the feed
//! that gateways follow to reject revoked tokens before they expire.

use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::state::AppState;
use crate::token_service::authenticate_client;
use crate::{own_tokens, revocation};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::{AuditEvent, ClientKind};
use portcullis_jose::sha256;
use portcullis_types::OAuthErrorCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;

/// The scope a client needs to read the revocation feed.
pub const REVOCATION_FEED_SCOPE: &str = "portcullis:revocations";
/// Entries per feed page at most.
const FEED_PAGE_LIMIT: u32 = 1000;

fn no_store(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

fn not_yours() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::UnauthorizedClient,
        "the token was not issued to this client",
    )
}

/// RFC 7009 §2.1: revoke a refresh token (its whole family) or an access token (its `jti`).
/// Unknown and invalid tokens get 200, as §2.2 requires.
pub(super) async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke_token(&state, &headers, remote_addr, &body).await {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn revoke_token(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<(), OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    let client = authenticate_client(state, headers, &params, remote_addr).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let lookup = state
        .store
        .find_refresh_token(&sha256(token.as_bytes()))
        .await
        .map_err(|error| OAuthError::from_store(&error))?;
    if let Some(lookup) = lookup {
        if lookup.family.client_id != client.id {
            return Err(not_yours());
        }
        revocation::revoke_family(
            state.store.as_ref(),
            state.announcer.as_ref(),
            &lookup.family,
            state.clock.now(),
        )
        .await
        .map_err(|error| OAuthError::from_store(&error))?;
        state.audit.record(&AuditEvent::TokenRevoked {
            client_id: client.id,
            token_type: "refresh_token".into(),
        });
        return Ok(());
    }
    let Ok(validated) = own_tokens::validate_access_token(state, token, None) else {
        return Ok(());
    };
    if validated.claims.get("client_id").and_then(Value::as_str) != Some(client.id.as_str()) {
        return Err(not_yours());
    }
    let jti = validated
        .claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let exp = validated
        .claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    revocation::revoke_access_token(
        state.store.as_ref(),
        state.announcer.as_ref(),
        jti,
        exp,
        state.clock.now(),
    )
    .await
    .map_err(|error| OAuthError::from_store(&error))?;
    state.audit.record(&AuditEvent::TokenRevoked {
        client_id: client.id,
        token_type: "access_token".into(),
    });
    Ok(())
}

/// RFC 7662 §2: confidential clients may ask whether a token is active.
pub(super) async fn introspect(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match introspect_token(&state, &headers, remote_addr, &body).await {
        Ok(answer) => no_store(answer),
        Err(error) => error.into_response(),
    }
}

async fn introspect_token(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    let client = authenticate_client(state, headers, &params, remote_addr).await?;
    // RFC 7662 §2.1: the endpoint requires authorization; a public client cannot provide it.
    if client.kind != ClientKind::Confidential {
        return Err(OAuthError::invalid_client());
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let inactive = json!({ "active": false });
    let now = state.clock.now();
    let store_error = |error| OAuthError::from_store(&error);
    if let Some(lookup) = state
        .store
        .find_refresh_token(&sha256(token.as_bytes()))
        .await
        .map_err(store_error)?
    {
        let family = &lookup.family;
        let active = lookup.used_at.is_none()
            && family.revoked_at.is_none()
            && now < lookup.record.expires_at
            && now < family.expires_at;
        if !active {
            return Ok(inactive);
        }
        return Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": family.client_id,
            "sub": family.user_id,
            "scope": family.scope,
            "exp": lookup.record.expires_at,
            "iat": lookup.record.created_at,
            "iss": state.settings.issuer(),
        }));
    }
    let Ok(validated) = own_tokens::validate_access_token(state, token, None) else {
        return Ok(inactive);
    };
    if own_tokens::is_revoked(state, &validated.claims)
        .await
        .map_err(store_error)?
    {
        return Ok(inactive);
    }
    let mut answer = validated.claims;
    answer.insert("active".into(), true.into());
    answer.insert("token_type".into(), "Bearer".into());
    Ok(Value::Object(answer))
}

#[derive(Deserialize)]
pub(super) struct FeedQuery {
    after: Option<i64>,
}

/// `GET /revocations?after=<cursor>`: entries after the cursor, for clients allowed the scope
/// `portcullis:revocations`. The answer carries `next` to pass as `after` next time.
pub(super) async fn feed(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<FeedQuery>,
) -> Response {
    let client =
        match authenticate_client(&state, &headers, &OAuthParams::default(), remote_addr).await {
            Ok(client) => client,
            Err(error) => return error.into_response(),
        };
    if !client.scopes.contains(REVOCATION_FEED_SCOPE) {
        return OAuthError::new(
            OAuthErrorCode::InvalidScope,
            "client may not read the revocation feed",
        )
        .into_response();
    }
    let after = query.after.unwrap_or(0);
    let now = state.clock.now();
    match state
        .store
        .revocations_after(after, FEED_PAGE_LIMIT, now)
        .await
    {
        Ok(entries) => {
            let next = entries.last().map_or(after, |entry| entry.cursor);
            let entries: Vec<Value> = entries
                .iter()
                .map(|entry| json!({"cursor": entry.cursor, "kind": entry.kind.as_str(), "value": entry.value, "expires_at": entry.expires_at}))
                .collect();
            no_store(json!({ "entries": entries, "next": next }))
        }
        Err(error) => OAuthError::from_store(&error).into_response(),
    }
}
