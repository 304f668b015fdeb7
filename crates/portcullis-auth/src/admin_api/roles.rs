//! `/admin/v1/roles`: roles and the scopes they grant. A scope some role lists is given to a
//! user's tokens only when one of the user's roles lists it.

use super::access::{Reader, Writer};
use super::body::ApiJson;
use super::error::{ApiError, ApiErrorBody};
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portcullis_core::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// Name, as on users: lowercase letters, digits and `_ - : .`.
    pub name: String,
    /// The scopes it grants.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
}

impl RoleBody {
    /// The validated role.
    ///
    /// # Errors
    /// An `invalid` error naming the field.
    pub fn role(self) -> Result<Role, ApiError> {
        Role::new(&self.name, self.scopes, self.description)
            .map_err(|error| ApiError::invalid(error.field(), error.to_string()))
    }
}

impl From<Role> for RoleBody {
    fn from(role: Role) -> Self {
        RoleBody {
            name: role.name,
            scopes: role.scopes.iter().map(str::to_owned).collect(),
            description: role.description,
        }
    }
}

/// The scopes and description of a role, to put under its name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRoleBody {
    /// The scopes it grants.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
}

/// Every role, by name.
#[utoipa::path(get, operation_id = "list_roles", path = "/admin/v1/roles", tag = tags::ROLES,
    responses((status = 200, body = Vec<RoleBody>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Reader(actor): Reader,
) -> Result<Json<Vec<RoleBody>>, ApiError> {
    let roles = administration(&state, &actor).roles().await?;
    Ok(Json(roles.into_iter().map(RoleBody::from).collect()))
}

/// Creates the role or replaces its scopes and description.
#[utoipa::path(put, operation_id = "put_role", path = "/admin/v1/roles/{name}", tag = tags::ROLES,
    params(("name" = String, Path, description = "Role name")),
    request_body = PutRoleBody,
    responses((status = 200, body = RoleBody), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<PutRoleBody>,
) -> Result<Json<RoleBody>, ApiError> {
    let role = RoleBody {
        name,
        scopes: body.scopes,
        description: body.description,
    }
    .role()?;
    administration(&state, &actor).put_role(&role).await?;
    Ok(Json(role.into()))
}

/// Deletes a role; users keep the name.
#[utoipa::path(delete, operation_id = "delete_role", path = "/admin/v1/roles/{name}", tag = tags::ROLES,
    params(("name" = String, Path, description = "Role name")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    administration(&state, &actor).delete_role(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
