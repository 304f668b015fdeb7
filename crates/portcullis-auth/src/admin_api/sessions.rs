//! `/admin/v1/sessions`: browser sign-in sessions, listed and revoked.

use super::access::{Reader, Writer};
use super::error::{ApiError, ApiErrorBody};
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portcullis_core::Session;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A session as the admin API shows it (never its cookie secret or hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Public session id (`sid` of its tokens).
    pub sid: String,
    /// The user's id.
    pub user_id: String,
    /// The user's name; absent once the user is gone.
    pub username: Option<String>,
    /// When the user authenticated, Unix seconds.
    pub auth_time: i64,
    /// Last activity, Unix seconds.
    pub last_seen_at: i64,
    /// Absolute end, Unix seconds.
    pub expires_at: i64,
}

impl From<(Session, Option<String>)> for SessionView {
    fn from((session, username): (Session, Option<String>)) -> Self {
        SessionView {
            sid: session.sid,
            user_id: session.user_id,
            username,
            auth_time: session.auth_time,
            last_seen_at: session.last_seen_at,
            expires_at: session.expires_at,
        }
    }
}

/// Every live session, newest first.
#[utoipa::path(get, operation_id = "list_sessions", path = "/admin/v1/sessions", tag = tags::SESSIONS,
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Reader(actor): Reader,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = administration(&state, &actor).sessions(None).await?;
    Ok(Json(sessions.into_iter().map(SessionView::from).collect()))
}

/// Ends a session and revokes every token issued in it.
#[utoipa::path(delete, operation_id = "revoke_session", path = "/admin/v1/sessions/{sid}", tag = tags::SESSIONS,
    params(("sid" = String, Path, description = "Session id")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(sid): Path<String>,
) -> Result<StatusCode, ApiError> {
    administration(&state, &actor).revoke_session(&sid).await?;
    Ok(StatusCode::NO_CONTENT)
}
