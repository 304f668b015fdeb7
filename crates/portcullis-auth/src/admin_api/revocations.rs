//! `/admin/v1/revocations`: the revocation list, as the feed gateways follow.

use super::access::Reader;
use super::body::query;
use super::error::{ApiError, ApiErrorBody};
use super::tags;
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The largest page of entries.
const MAX_PAGE: u32 = 1000;

/// Paging of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevocationParams {
    /// The `next` of the previous page (0 or absent: from the start).
    pub after: Option<i64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// A live entry of the revocation list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevocationView {
    /// `jti`, `sid` or `sub`: what the value names.
    pub kind: String,
    /// The token id, session id or subject.
    pub value: String,
    /// When the entry may go (the tokens it matches are expired by then), Unix seconds.
    pub expires_at: i64,
}

/// One page of entries in feed order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevocationPage {
    /// The entries.
    pub entries: Vec<RevocationView>,
    /// Pass as `after` for the next page.
    pub next: i64,
}

/// Live revocation entries in feed order.
#[utoipa::path(get, operation_id = "list_revocations", path = "/admin/v1/revocations",
    tag = tags::REVOCATIONS, params(RevocationParams),
    responses((status = 200, body = RevocationPage), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _reader: Reader,
    params: Result<Query<RevocationParams>, QueryRejection>,
) -> Result<Json<RevocationPage>, ApiError> {
    let params = query(params)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("use 1 to {MAX_PAGE}")));
    }
    let page = state
        .store
        .revocations_after(params.after.unwrap_or(0), limit, state.clock.now())
        .await?;
    Ok(Json(RevocationPage {
        entries: page
            .entries
            .into_iter()
            .map(|entry| RevocationView {
                kind: entry.kind.as_str().to_owned(),
                value: entry.value,
                expires_at: entry.expires_at,
            })
            .collect(),
        next: page.next,
    }))
}
