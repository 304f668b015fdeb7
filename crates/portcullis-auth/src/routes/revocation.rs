//! `POST /revoke` (RFC 7009), `POST /introspect` (RFC 7662) and `GET /revocations`, the feed
//! that gateways follow to reject revoked tokens before they expire. The decisions are the
//! service layer's ([`portcullis_service::TokenInspector`]); these read the request and render.

use crate::error::OAuthError;
use crate::form::OAuthParams;
use crate::state::AppState;
use crate::token_request::authenticate_client;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_service::Introspection;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;

fn no_store(body: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

/// The form's `token`, from an authenticated client.
async fn client_and_token(
    state: &AppState,
    headers: &HeaderMap,
    remote_addr: SocketAddr,
    body: &[u8],
) -> Result<(std::sync::Arc<portcullis_core::Client>, String), OAuthError> {
    let params = OAuthParams::from_form_body(headers, body)?;
    let client = authenticate_client(state, headers, &params, remote_addr).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token.to_owned()))
}

/// RFC 7009 §2.1: revoke a refresh token (its whole family) or an access token (its `jti`).
/// Unknown and invalid tokens get 200, as §2.2 requires.
pub(super) async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let revoked = async {
        let (client, token) = client_and_token(&state, &headers, remote_addr, &body).await?;
        Ok::<_, OAuthError>(state.inspector().revoke(&client, &token).await?)
    };
    match revoked.await {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(error) => error.into_response(),
    }
}

/// RFC 7662 §2: resource servers (confidential clients granted `portcullis:introspect`) may ask
/// whether a token is active for them.
pub(super) async fn introspect(
    State(state): State<AppState>,
    ConnectInfo(remote_addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let introspected = async {
        let (client, token) = client_and_token(&state, &headers, remote_addr, &body).await?;
        Ok::<_, OAuthError>(state.inspector().introspect(&client, &token).await?)
    };
    match introspected.await {
        Ok(Introspection::Inactive) => no_store(json!({ "active": false })),
        Ok(Introspection::Active(mut answer)) => {
            answer.insert("active".into(), true.into());
            no_store(Value::Object(answer))
        }
        Err(error) => error.into_response(),
    }
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
    let page = async {
        let client =
            authenticate_client(&state, &headers, &OAuthParams::default(), remote_addr).await?;
        let after = query.after.unwrap_or(0);
        Ok::<_, OAuthError>(state.inspector().revocation_feed(&client, after).await?)
    };
    match page.await {
        Ok(page) => {
            let entries: Vec<Value> = page
                .entries
                .iter()
                .map(|entry| json!({"kind": entry.kind.as_str(), "value": entry.value, "expires_at": entry.expires_at}))
                .collect();
            no_store(json!({ "entries": entries, "next": page.next }))
        }
        Err(error) => error.into_response(),
    }
}
