//! `/admin/v1/users`: create, read, search and page, update, delete, set passwords, list
//! sessions and revoke consents.

use super::access::{Reader, Writer};
use super::body::{ApiJson, query};
use super::error::{ApiError, ApiErrorBody};
use super::sessions::SessionView;
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use portcullis_core::User;
use portcullis_service::admin::{InitialPassword, MAX_USER_PAGE, UserChanges, UserDraft};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A user as the admin API shows it (never the password hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Stable id: the `sub` of the user's tokens.
    pub id: String,
    /// Username as registered.
    pub username: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Whether the address is verified (its owner followed a link, or an administrator vouched).
    #[serde(default)]
    pub email_verified: bool,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When the user was disabled, Unix seconds; absent when active.
    pub disabled_at: Option<i64>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        UserView {
            email_verified: user.email_verified(),
            id: user.id,
            username: user.username.to_string(),
            roles: user.roles,
            email: user.email,
            created_at: user.created_at,
            disabled_at: user.disabled_at,
        }
    }
}

/// One page of users.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    /// Users by lowercase username.
    pub users: Vec<UserView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Search and paging of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Usernames starting with this, in any letter case.
    pub search: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// A user to create.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Username: 1-64 letters, digits and `. _ - @`; unique in any letter case.
    pub username: String,
    /// Roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Initial password (stored as an Argon2id hash).
    pub password: String,
}

impl NewUserBody {
    /// The service layer's draft of the user.
    pub fn draft(self) -> UserDraft {
        UserDraft {
            username: self.username,
            roles: self.roles,
            email: self.email,
            password: InitialPassword::Plain(self.password),
        }
    }
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// New email address; `null` removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// `true` vouches for the address (verified now), `false` withdraws that; a new address
    /// without it is unverified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// `true` disables the user (their tokens are revoked at once), `false` enables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

impl UserPatch {
    /// The service layer's changes.
    pub fn changes(self) -> UserChanges {
        UserChanges {
            roles: self.roles,
            email: self.email,
            email_verified: self.email_verified,
            disabled: self.disabled,
        }
    }
}

/// A field that is present (possibly `null`), as opposed to absent.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// A new password.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The password.
    pub password: String,
}

/// The result of a password change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordChanged {
    /// Sessions ended (every session and token family of the user ends).
    pub sessions_ended: usize,
}

/// Lists users, searched by username prefix, a page at a time.
#[utoipa::path(get, operation_id = "list_users", path = "/admin/v1/users", tag = tags::USERS, params(UserQuery),
    responses((status = 200, body = UserList), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Reader(actor): Reader,
    params: Result<Query<UserQuery>, QueryRejection>,
) -> Result<Json<UserList>, ApiError> {
    let params = query(params)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=MAX_USER_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("use 1 to {MAX_USER_PAGE}"),
        ));
    }
    let page = administration(&state, &actor)
        .list_users(params.search, params.after, limit)
        .await?;
    Ok(Json(UserList {
        users: page.users.into_iter().map(UserView::from).collect(),
        next: page.next,
    }))
}

/// Creates a user.
#[utoipa::path(post, operation_id = "create_user", path = "/admin/v1/users", tag = tags::USERS, request_body = NewUserBody,
    responses((status = 201, body = UserView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ApiJson(body): ApiJson<NewUserBody>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = administration(&state, &actor)
        .create_user(body.draft())
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Shows a user.
#[utoipa::path(get, operation_id = "get_user", path = "/admin/v1/users/{username}", tag = tags::USERS,
    params(("username" = String, Path, description = "Username, any letter case")),
    responses((status = 200, body = UserView), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Reader(actor): Reader,
    Path(username): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = administration(&state, &actor).user(&username).await?;
    Ok(Json(user.into()))
}

/// Changes a user's roles or email, or disables or enables them.
#[utoipa::path(patch, operation_id = "update_user", path = "/admin/v1/users/{username}", tag = tags::USERS,
    params(("username" = String, Path, description = "Username, any letter case")),
    request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(username): Path<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    let user = administration(&state, &actor)
        .update_user(&username, patch.changes())
        .await?;
    Ok(Json(user.into()))
}

/// Deletes a user and revokes their tokens.
#[utoipa::path(delete, operation_id = "delete_user", path = "/admin/v1/users/{username}", tag = tags::USERS,
    params(("username" = String, Path, description = "Username, any letter case")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    administration(&state, &actor)
        .delete_user(&username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces a user's password; every session and token family of theirs ends.
#[utoipa::path(put, operation_id = "set_user_password", path = "/admin/v1/users/{username}/password", tag = tags::USERS,
    params(("username" = String, Path, description = "Username, any letter case")),
    request_body = PasswordBody,
    responses((status = 200, body = PasswordChanged), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn set_password(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(username): Path<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Json<PasswordChanged>, ApiError> {
    let sessions_ended = administration(&state, &actor)
        .set_password(&username, body.password)
        .await?;
    Ok(Json(PasswordChanged { sessions_ended }))
}

/// The user's sign-in sessions, newest first.
#[utoipa::path(get, operation_id = "list_user_sessions", path = "/admin/v1/users/{username}/sessions", tag = tags::USERS,
    params(("username" = String, Path, description = "Username, any letter case")),
    responses((status = 200, body = Vec<SessionView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn sessions(
    State(state): State<AppState>,
    Reader(actor): Reader,
    Path(username): Path<String>,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let admin = administration(&state, &actor);
    let user = admin.user(&username).await?;
    let sessions = admin.sessions(Some(&user.id)).await?;
    Ok(Json(sessions.into_iter().map(SessionView::from).collect()))
}

/// Forgets the user's consent to a client; the consent page is shown again next time.
#[utoipa::path(delete, operation_id = "revoke_user_consent", path = "/admin/v1/users/{username}/consents/{client_id}",
    tag = tags::USERS,
    params(("username" = String, Path, description = "Username, any letter case"),
        ("client_id" = String, Path, description = "Client id")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_consent(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path((username, client_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    administration(&state, &actor)
        .revoke_consent(&username, &client_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes every second factor of the user (authenticator app and recovery codes), for a user
/// who lost them; audited. 204 also when the user had none.
#[utoipa::path(delete, operation_id = "reset_user_factors", path = "/admin/v1/users/{username}/factors",
    tag = tags::USERS,
    params(("username" = String, Path, description = "Username, any letter case")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn reset_factors(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    administration(&state, &actor)
        .reset_factors(&username)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
