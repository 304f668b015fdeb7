//! `/admin/v1/clients/{id}/tokens`: API keys of service accounts (confidential clients), personal
//! access tokens whose owner is the client: made (shown once), listed, revoked.

use super::access::{Reader, Writer};
use super::body::ApiJson;
use super::error::{ApiError, ApiErrorBody};
use super::tags;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderName, StatusCode, header};
use portcullis_core::ScopeSet;
use portcullis_core::personal_access_token::{
    PersonalAccessToken, TokenOwner, TokenRequest, TokenRequestError,
};
use portcullis_service::personal_access_tokens::TokenKeyError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A key to make.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// What it is for.
    pub name: String,
    /// Its scopes, space-separated: a subset of the client's.
    pub scope: String,
    /// Days it lives (at most `personal_access_tokens.max_lifetime_days`).
    pub expires_in_days: i64,
    /// Networks it may be used from (addresses, CIDR ranges); empty: any.
    #[serde(default)]
    pub networks: Vec<String>,
}

impl NewTokenBody {
    /// The request it makes.
    ///
    /// # Errors
    /// `scope` is not a list of scope tokens.
    pub fn into_request(self) -> Result<TokenRequest, ApiError> {
        let scope = ScopeSet::parse(&self.scope)
            .map_err(|_| ApiError::invalid("scope", "not a list of scope tokens"))?;
        Ok(TokenRequest {
            name: self.name,
            scope,
            lifetime_days: self.expires_in_days,
            networks: self.networks,
        })
    }
}

/// A key, without its secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scope: String,
    /// Networks it may be used from; empty: any.
    pub networks: Vec<String>,
    /// When it was made, Unix seconds.
    pub created_at: i64,
    /// When it stops working, Unix seconds.
    pub expires_at: i64,
    /// When a resource server last asked about it (to the minute), Unix seconds.
    pub last_used_at: Option<i64>,
}

impl From<PersonalAccessToken> for TokenView {
    fn from(token: PersonalAccessToken) -> Self {
        TokenView {
            id: token.id,
            name: token.name,
            scope: token.scope.to_string(),
            networks: token.networks,
            created_at: token.created_at,
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
        }
    }
}

/// A key just made: the token is shown only here, only its hash is stored.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedTokenView {
    /// The token (`pcl_pat_…`), to send as `Authorization: Bearer`.
    pub token: String,
    /// The key.
    #[serde(flatten)]
    pub key: TokenView,
}

// The token is a credential: Debug leaves it out.
impl std::fmt::Debug for CreatedTokenView {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CreatedTokenView")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl From<TokenKeyError> for ApiError {
    fn from(error: TokenKeyError) -> Self {
        match error {
            TokenKeyError::NoOwner => ApiError::not_found("no such confidential client"),
            TokenKeyError::Store(error) => ApiError::store(&error),
            TokenKeyError::Random => ApiError::internal(),
            TokenKeyError::Request(request) => {
                let field = match request {
                    TokenRequestError::Name => "name",
                    TokenRequestError::Lifetime(_) => "expires_in_days",
                    TokenRequestError::NoScope | TokenRequestError::Scope(_) => "scope",
                    TokenRequestError::Networks(_) => "networks",
                };
                ApiError::invalid(field, request.to_string())
            }
            error @ (TokenKeyError::Disabled
            | TokenKeyError::TooMany
            | TokenKeyError::NoAudience) => ApiError::conflict(error.to_string()),
        }
    }
}

/// Makes an API key for a service account.
#[utoipa::path(post, operation_id = "create_client_token", path = "/admin/v1/clients/{id}/tokens",
    tag = tags::CLIENTS, request_body = NewTokenBody,
    params(("id" = String, Path, description = "Client id")),
    responses((status = 201, body = CreatedTokenView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<
    (
        StatusCode,
        [(HeaderName, &'static str); 1],
        Json<CreatedTokenView>,
    ),
    ApiError,
> {
    let request = body.into_request()?;
    let (record, token) = state
        .personal_access_tokens()
        .create(TokenOwner::Client(id), request, &actor.to_string())
        .await?;
    Ok((
        StatusCode::CREATED,
        // Shown once: never kept by a cache.
        [(header::CACHE_CONTROL, "no-store")],
        Json(CreatedTokenView {
            token,
            key: record.into(),
        }),
    ))
}

/// Lists a service account's API keys, newest first.
#[utoipa::path(get, operation_id = "list_client_tokens", path = "/admin/v1/clients/{id}/tokens",
    tag = tags::CLIENTS, params(("id" = String, Path, description = "Client id")),
    responses((status = 200, body = [TokenView]), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Reader(_actor): Reader,
    Path(id): Path<String>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    if state.store.find_client(&id).await?.is_none() {
        return Err(ApiError::not_found("no such client"));
    }
    let tokens = state
        .personal_access_tokens()
        .list(&TokenOwner::Client(id))
        .await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Revokes one of a service account's API keys: refused at once by introspection, and by
/// gateways through the revocation list.
#[utoipa::path(delete, operation_id = "revoke_client_token",
    path = "/admin/v1/clients/{id}/tokens/{token_id}", tag = tags::CLIENTS,
    params(("id" = String, Path, description = "Client id"),
        ("token_id" = String, Path, description = "The key's id")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path((id, token_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let revoked = state
        .personal_access_tokens()
        .revoke(&TokenOwner::Client(id), &token_id, &actor.to_string())
        .await?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such key of this client"))
    }
}
