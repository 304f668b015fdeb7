//! `/admin/v1/audit`: the audit log, searched and paged newest first.

use super::access::Reader;
use super::body::query;
use super::error::{ApiError, ApiErrorBody};
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use portcullis_service::AuditQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The largest page of events.
const MAX_PAGE: u32 = 500;

/// Filters and paging; every filter that is set must match.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Event kind: `sign_in`, `token_issued`, `admin_action`, ...
    pub kind: Option<String>,
    /// The user id (username for sign-ins, the target of an admin action).
    pub subject: Option<String>,
    /// The client id.
    pub client_id: Option<String>,
    /// Events at or after this Unix time.
    pub since: Option<i64>,
    /// Events before this Unix time.
    pub until: Option<i64>,
    /// The `next` of the previous page.
    pub before: Option<i64>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// One audit event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventView {
    /// Position in the log.
    pub id: i64,
    /// Unix time.
    pub at: i64,
    /// Event kind.
    pub kind: String,
    /// The event as recorded.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// One page of events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub events: Vec<AuditEventView>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next: Option<i64>,
}

/// Searches the audit log, newest first.
#[utoipa::path(get, operation_id = "search_audit", path = "/admin/v1/audit", tag = tags::AUDIT, params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<AppState>,
    Reader(actor): Reader,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let params = query(params)?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("use 1 to {MAX_PAGE}")));
    }
    let page = administration(&state, &actor)
        .audit_page(AuditQuery {
            kind: params.kind,
            subject: params.subject,
            client_id: params.client_id,
            since: params.since,
            until: params.until,
            before_id: params.before,
            limit,
        })
        .await?;
    let events: Vec<AuditEventView> = page
        .records
        .into_iter()
        .map(|record| AuditEventView {
            id: record.id,
            at: record.at,
            kind: record.kind,
            detail: serde_json::from_str(&record.detail).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(Json(AuditPage {
        events,
        next: page.next,
    }))
}
