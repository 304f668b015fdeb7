//! `/admin/v1/keys`: signing keys with their status, and rotation.

use super::access::{Reader, Writer};
use super::body::ApiJson;
use super::error::{ApiError, ApiErrorBody};
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use portcullis_core::{KeyMetadata, KeyStatus};
use portcullis_jose::Algorithm;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A signing key (its public metadata).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    /// Key id.
    pub kid: String,
    /// `ES256`, `EdDSA` or `RS256`.
    pub alg: String,
    /// `pending`, `active`, `retired` or `expired`.
    pub status: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When it starts signing, Unix seconds.
    pub activates_at: i64,
    /// When a retired key leaves the JWKS, Unix seconds.
    pub unpublish_at: Option<i64>,
}

impl KeyView {
    /// A key with its status now.
    pub fn new(key: &KeyMetadata, status: KeyStatus) -> Self {
        KeyView {
            kid: key.kid.clone(),
            alg: key.alg.as_str().to_owned(),
            status: status.name().to_owned(),
            created_at: key.created_at,
            activates_at: key.activates_at,
            unpublish_at: match status {
                KeyStatus::Retired { unpublish_at } => Some(unpublish_at),
                _ => None,
            },
        }
    }
}

/// Which algorithms to rotate.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// Algorithms; empty or absent rotates all.
    #[serde(default)]
    pub algorithms: Vec<String>,
}

/// Every stored key, oldest first, with its status now.
#[utoipa::path(get, operation_id = "list_keys", path = "/admin/v1/keys", tag = tags::KEYS,
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, _reader: Reader) -> Json<Vec<KeyView>> {
    let statuses = state.keys.statuses(state.clock.now());
    Json(
        statuses
            .iter()
            .map(|(key, status)| KeyView::new(key, *status))
            .collect(),
    )
}

/// Creates a new key per algorithm: published at once, signing after the pre-publication delay.
#[utoipa::path(post, operation_id = "rotate_keys", path = "/admin/v1/keys/rotate", tag = tags::KEYS,
    request_body = RotateBody,
    responses((status = 200, body = Vec<KeyView>), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ApiJson(body): ApiJson<RotateBody>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let algorithms: Vec<Algorithm> = if body.algorithms.is_empty() {
        Algorithm::ALL.to_vec()
    } else {
        body.algorithms
            .iter()
            .map(|name| name.parse())
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::invalid("algorithms", "use ES256, EdDSA or RS256"))?
    };
    let created = administration(&state, &actor)
        .rotate_keys(&state.keys, &algorithms)
        .await?;
    state.announcer.keys_changed();
    let statuses = state.keys.statuses(state.clock.now());
    Ok(Json(
        statuses
            .iter()
            .filter(|(key, _)| created.iter().any(|new| new.kid == key.kid))
            .map(|(key, status)| KeyView::new(key, *status))
            .collect(),
    ))
}
