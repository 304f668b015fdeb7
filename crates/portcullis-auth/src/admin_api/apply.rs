//! `POST /admin/v1/apply`: the declarative apply of `portcullis admin apply --server`, planned
//! and carried out by the service layer on the server; secrets travel in the body, never in a
//! plan.

use super::access::Writer;
use super::body::ApiJson;
use super::clients::NewClientBody;
use super::error::{ApiError, ApiErrorBody};
use super::roles::RoleBody;
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use portcullis_service::admin::{DesiredClient, DesiredState, DesiredUser, InitialPassword, Plan};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The desired roles, clients and users, and how to apply them.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    /// Roles that should exist.
    #[serde(default)]
    pub roles: Vec<RoleBody>,
    /// Clients that should exist.
    #[serde(default)]
    pub clients: Vec<ApplyClient>,
    /// Users that should exist.
    #[serde(default)]
    pub users: Vec<ApplyUser>,
    /// Also delete what is not listed.
    #[serde(default)]
    pub prune: bool,
    /// Only plan.
    #[serde(default)]
    pub dry_run: bool,
}

/// A client that should exist.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyClient {
    /// Its registration.
    pub registration: NewClientBody,
    /// A confidential client's secret; absent: generated on creation and returned once.
    pub secret: Option<String>,
}

/// A user that should exist.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyUser {
    /// Username.
    pub username: String,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Vouch for the address (or withdraw that); absent: leave it as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// A password to set when it no longer verifies.
    pub password: Option<String>,
    /// Or an Argon2 PHC hash to store.
    pub password_hash: Option<String>,
}

/// A secret generated for a new client, shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct GeneratedSecret {
    /// The client.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
}

/// The plan, and what applying it generated.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ApplyResult {
    /// One line per change (`+ client x`, `~ user y: roles`, `- user z`); empty: nothing to do.
    pub changes: Vec<String>,
    /// Whether the changes were made (not a dry run).
    pub applied: bool,
    /// Secrets of clients created without one.
    pub generated_secrets: Vec<GeneratedSecret>,
}

impl ApplyResult {
    /// The answer for `plan`, with the secrets `generated` while applying it (if `applied`).
    pub fn new(plan: &Plan, applied: bool, generated: Vec<(String, String)>) -> Self {
        ApplyResult {
            changes: plan.changes.iter().map(ToString::to_string).collect(),
            applied,
            generated_secrets: generated
                .into_iter()
                .map(|(client_id, client_secret)| GeneratedSecret {
                    client_id,
                    client_secret,
                })
                .collect(),
        }
    }
}

impl ApplyBody {
    /// The desired state it describes.
    ///
    /// # Errors
    /// An `invalid` error naming the field.
    pub fn desired(self) -> Result<DesiredState, ApiError> {
        let roles = self
            .roles
            .into_iter()
            .map(RoleBody::role)
            .collect::<Result<_, ApiError>>()?;
        let clients = self
            .clients
            .into_iter()
            .map(|client| {
                Ok(DesiredClient {
                    registration: client.registration.registration()?,
                    secret: client.secret,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        let users = self
            .users
            .into_iter()
            .map(|user| {
                let password = match (user.password, user.password_hash) {
                    (Some(password), None) => InitialPassword::Plain(password),
                    (None, Some(hash)) => InitialPassword::Hash(hash),
                    (None, None) => InitialPassword::Unusable,
                    (Some(_), Some(_)) => {
                        return Err(ApiError::invalid(
                            "password_hash",
                            "give password or password_hash, not both",
                        ));
                    }
                };
                Ok(DesiredUser {
                    username: user.username,
                    roles: user.roles,
                    email: user.email,
                    email_verified: user.email_verified,
                    password,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(DesiredState {
            roles,
            clients,
            users,
        })
    }
}

/// Plans, and unless `dry_run` applies, a desired state of roles, clients and users.
#[utoipa::path(post, operation_id = "apply", path = "/admin/v1/apply", tag = tags::APPLY,
    request_body = ApplyBody,
    responses((status = 200, body = ApplyResult), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn apply(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ApiJson(body): ApiJson<ApplyBody>,
) -> Result<Json<ApplyResult>, ApiError> {
    let (prune, dry_run) = (body.prune, body.dry_run);
    let desired = body.desired()?;
    let admin = administration(&state, &actor);
    let (plan, generated) = if dry_run {
        (admin.plan(&desired, prune).await?, Vec::new())
    } else {
        let (plan, applied) = admin.apply(&desired, prune).await?;
        (plan, applied.generated_secrets)
    };
    Ok(Json(ApplyResult::new(&plan, !dry_run, generated)))
}
