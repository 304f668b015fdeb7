//! `/admin/v1/invitations`: single-use links to `/register` for registration mode `invite`.

use super::access::Writer;
use super::body::ApiJson;
use super::error::{ApiError, ApiErrorBody};
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use portcullis_service::admin::InvitationCreated;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An invitation to create.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvitationBody {
    /// The only address that may use it; absent: whoever holds the link.
    pub email: Option<String>,
    /// How long it works, 60 seconds to 90 days (default 7 days).
    pub expires_in_secs: Option<i64>,
}

/// A created invitation: the link is shown only here, only its hash is stored.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    /// The registration link to hand over; it works once.
    pub link: String,
    /// The address it is bound to (lower case), if any.
    pub email: Option<String>,
    /// When it stops working, Unix seconds.
    pub expires_at: i64,
}

// The link is a credential: Debug leaves it out.
impl std::fmt::Debug for InvitationView {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("InvitationView")
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl From<InvitationCreated> for InvitationView {
    fn from(created: InvitationCreated) -> Self {
        InvitationView {
            link: created.link,
            email: created.email,
            expires_at: created.expires_at,
        }
    }
}

/// Creates a single-use invitation to register.
#[utoipa::path(post, operation_id = "create_invitation", path = "/admin/v1/invitations",
    tag = tags::INVITATIONS, request_body = NewInvitationBody,
    responses((status = 201, body = InvitationView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ApiJson(body): ApiJson<NewInvitationBody>,
) -> Result<(StatusCode, Json<InvitationView>), ApiError> {
    let created = administration(&state, &actor)
        .create_invitation(
            body.email.as_deref(),
            body.expires_in_secs,
            &state.register_page,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}
