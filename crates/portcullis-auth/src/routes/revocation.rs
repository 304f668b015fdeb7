//! `POST /revoke` (RFC 7009), `POST /introspect` (RFC 7662) and `GET /revocations`, the feed
//! that gateways follow to reject revoked tokens before they expire.

use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::own_tokens;
use crate::state::AppState;
use crate::token_request::authenticate_client;
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
/// The scope a client (a resource server) needs to introspect tokens.
pub const INTROSPECTION_SCOPE: &str = "portcullis:introspect";
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
        // RFC 7009 §2.1: revoking a refresh token also invalidates the access tokens of the
        // same grant.
        state
            .revoker()
            .revoke_family(&lookup.family.id, state.clock.now())
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
    let token = portcullis_core::IssuedAccessToken {
        jti: jti.to_owned(),
        expires_at: exp,
    };
    state
        .revoker()
        .revoke_access_tokens(std::slice::from_ref(&token), state.clock.now())
        .await
        .map_err(|error| OAuthError::from_store(&error))?;
    state.audit.record(&AuditEvent::TokenRevoked {
        client_id: client.id,
        token_type: "access_token".into(),
    });
    Ok(())
}

/// RFC 7662 §2: resource servers (confidential clients granted `portcullis:introspect`) may ask
/// whether a token is active for them.
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
    // RFC 7662 §4: not every client may learn about every token.
    if !client.scopes.contains(INTROSPECTION_SCOPE) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "client may not introspect tokens (it needs the scope portcullis:introspect)",
        ));
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
        // A refresh token is only ever presented by the client it was issued to.
        let active = family.client_id == client.id
            && lookup.used_at.is_none()
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
    // RFC 7662 §4: a token meant for other resources is not active for this one.
    if !is_audience(&client, &validated.claims) {
        return Ok(inactive);
    }
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

/// Whether the introspecting `client` is among the token's audiences: by its client id or one of
/// the resource identifiers registered as its audiences.
fn is_audience(client: &portcullis_core::Client, claims: &serde_json::Map<String, Value>) -> bool {
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    audiences.iter().any(|audience| {
        *audience == client.id || client.audiences.iter().any(|own| own == audience)
    })
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
        Ok(page) => {
            let entries: Vec<Value> = page
                .entries
                .iter()
                .map(|entry| json!({"kind": entry.kind.as_str(), "value": entry.value, "expires_at": entry.expires_at}))
                .collect();
            no_store(json!({ "entries": entries, "next": page.next }))
        }
        Err(error) => OAuthError::from_store(&error).into_response(),
    }
}
