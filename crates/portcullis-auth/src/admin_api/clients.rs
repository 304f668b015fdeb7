//! `/admin/v1/clients`: register, read, list and delete OAuth clients, and rotate secrets.

use super::access::{Reader, Writer};
use super::body::ApiJson;
use super::error::{ApiError, ApiErrorBody};
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portcullis_core::{Client, ClientKeys, ClientKeysError, ClientKind, ClientRegistration};
use portcullis_types::{GrantType, JwkSet};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A client as the admin API shows it (never its secret or hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientView {
    /// Client id.
    pub id: String,
    /// `confidential` or `public`.
    pub kind: String,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may request.
    pub scopes: Vec<String>,
    /// Audiences it may request tokens for.
    pub audiences: Vec<String>,
    /// Its own access token lifetime, seconds; absent for the server's default.
    pub access_token_lifetime_secs: Option<i64>,
    /// First-party: users are not asked for consent.
    pub first_party: bool,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Id token signing algorithm.
    pub id_token_algorithm: String,
    /// How it authenticates at the token endpoint: `client_secret_basic` (or `_post`),
    /// `private_key_jwt` or `none`.
    pub token_endpoint_auth_method: String,
    /// Its public keys, when registered by value.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<JwkSet>,
    /// Where its public keys are, when registered by reference.
    pub jwks_uri: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// Where logout tokens are delivered (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Users must sign in with a second factor to authorize it.
    pub require_mfa: bool,
    /// Its authorization requests are taken only when pushed (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// A name to show users.
    pub client_name: Option<String>,
    /// It registered itself (RFC 7591) rather than by an administrator.
    pub self_registered: bool,
    /// Its id is the URL of its Client ID Metadata Document, which describes it; the copy
    /// kept here is fetched again after this time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_document_expires_at: Option<i64>,
    /// URLs its request objects may be fetched from by reference (RFC 9101 §5.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_uris: Vec<String>,
    /// How its request objects must be signed (`none`, or an algorithm); absent: any of its
    /// keys, never unsigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl From<Client> for ClientView {
    fn from(client: Client) -> Self {
        ClientView {
            kind: client.kind.to_string(),
            grant_types: client
                .grant_types
                .iter()
                .map(|grant| grant.as_str().to_owned())
                .collect(),
            scopes: client.scopes.iter().map(str::to_owned).collect(),
            id_token_algorithm: client.id_token_algorithm().as_str().to_owned(),
            token_endpoint_auth_method: client.authentication_method().as_str().to_owned(),
            jwks: client
                .keys
                .as_ref()
                .and_then(ClientKeys::inline_set)
                .cloned(),
            jwks_uri: client
                .keys
                .as_ref()
                .and_then(ClientKeys::uri)
                .map(str::to_owned),
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            backchannel_logout_uri: client.backchannel_logout_uri,
            require_mfa: client.require_mfa,
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
            self_registered: client.registration_token_hash.is_some(),
            metadata_document_expires_at: client.metadata_document_expires_at,
            request_uris: client.request_uris,
            request_object_signing_alg: client
                .request_object_signing_alg
                .map(|alg| alg.as_str().to_owned()),
            client_name: client.client_name,
            id: client.id,
            redirect_uris: client.redirect_uris,
            audiences: client.audiences,
            access_token_lifetime_secs: client.access_token_lifetime_secs,
            first_party: client.first_party,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            created_at: client.created_at,
        }
    }
}

/// A client to register.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClientBody {
    /// Client id: 1-128 letters, digits and `. _ - :`.
    pub id: String,
    /// `confidential` (gets a secret) or `public` (PKCE, no secret).
    pub kind: String,
    /// `client_credentials`, `authorization_code`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    pub grant_types: Vec<String>,
    /// Redirect URIs, compared exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Scopes it may request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Audiences it may request tokens for.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Its own access token lifetime, seconds.
    pub access_token_lifetime_secs: Option<i64>,
    /// First-party: no consent page.
    #[serde(default)]
    pub first_party: bool,
    /// Post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_algorithm: Option<String>,
    /// Public keys (a JWK Set) for `private_key_jwt`: a confidential client registered with keys
    /// gets no secret. Not with `jwks_uri`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// An https URL serving its public keys, instead of `jwks`.
    pub jwks_uri: Option<String>,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Where logout tokens are delivered (OpenID Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Users must sign in with a second factor to authorize it.
    #[serde(default)]
    pub require_mfa: bool,
    /// Its authorization requests are taken only when pushed (RFC 9126 §6).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// A name to show users (at most 100 characters).
    pub client_name: Option<String>,
    /// URLs its request objects may be fetched from by reference (RFC 9101 §5.2): https (or
    /// loopback http), at most 512 characters, no fragment, compared exactly; at most 10.
    #[serde(default)]
    pub request_uris: Vec<String>,
    /// How its request objects must be signed: `none` (unsigned objects taken), or one
    /// algorithm of its keys; unset: any of its keys, never unsigned.
    pub request_object_signing_alg: Option<String>,
}

/// A registered client, with its secret shown this once.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ClientCreatedView {
    /// The client.
    pub client: ClientView,
    /// A confidential client's secret; it is stored only as a hash and never shown again.
    pub client_secret: Option<String>,
}

/// A rotated secret.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SecretView {
    /// The new secret; the old one no longer works.
    pub client_secret: String,
}

impl NewClientBody {
    /// The registration it describes.
    ///
    /// # Errors
    /// An `invalid` error naming `kind`, `grant_types` or `id_token_algorithm`.
    pub fn registration(self) -> Result<ClientRegistration, ApiError> {
        let kind = match self.kind.as_str() {
            "confidential" => ClientKind::Confidential,
            "public" => ClientKind::Public,
            _ => return Err(ApiError::invalid("kind", "use confidential or public")),
        };
        let grant_types = self
            .grant_types
            .iter()
            .map(|name| name.parse::<GrantType>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                ApiError::invalid(
                    "grant_types",
                    "use client_credentials, authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:token-exchange",
                )
            })?;
        let id_token_algorithm = self
            .id_token_algorithm
            .map(|name| name.parse())
            .transpose()
            .map_err(|_| ApiError::invalid("id_token_algorithm", "use RS256, ES256 or EdDSA"))?;
        let request_object_signing_alg = self
            .request_object_signing_alg
            .map(|name| name.parse::<portcullis_core::RequestObjectAlg>())
            .transpose()
            .map_err(|error| ApiError::invalid("request_object_signing_alg", error))?;
        let keys = ClientKeys::from_metadata(
            self.jwks.map(|jwks| jwks.to_string()).as_deref(),
            self.jwks_uri.as_deref(),
        )
        .map_err(|error| {
            let field = if error == ClientKeysError::InvalidUri {
                "jwks_uri"
            } else {
                "jwks"
            };
            ApiError::invalid(field, error.to_string())
        })?;
        Ok(ClientRegistration {
            id: self.id,
            kind,
            grant_types,
            redirect_uris: self.redirect_uris,
            scopes: self.scopes,
            audiences: self.audiences,
            access_token_lifetime_secs: self.access_token_lifetime_secs,
            first_party: self.first_party,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            id_token_algorithm,
            keys,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            backchannel_logout_uri: self.backchannel_logout_uri,
            require_mfa: self.require_mfa,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            client_name: self.client_name,
            request_uris: self.request_uris,
            request_object_signing_alg,
        })
    }
}

/// Every client, by id.
#[utoipa::path(get, operation_id = "list_clients", path = "/admin/v1/clients", tag = tags::CLIENTS,
    responses((status = 200, body = Vec<ClientView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _reader: Reader,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    let clients = state.store.list_clients().await?;
    Ok(Json(clients.into_iter().map(ClientView::from).collect()))
}

/// Registers a client; a confidential client's secret is in the answer, once.
#[utoipa::path(post, operation_id = "create_client", path = "/admin/v1/clients", tag = tags::CLIENTS,
    request_body = NewClientBody,
    responses((status = 201, body = ClientCreatedView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ApiJson(body): ApiJson<NewClientBody>,
) -> Result<(StatusCode, Json<ClientCreatedView>), ApiError> {
    let created = administration(&state, &actor)
        .create_client(body.registration()?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ClientCreatedView {
            client: created.client.into(),
            client_secret: created.secret,
        }),
    ))
}

/// Shows a client.
#[utoipa::path(get, operation_id = "get_client", path = "/admin/v1/clients/{id}", tag = tags::CLIENTS,
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, body = ClientView), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Reader(actor): Reader,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(
        administration(&state, &actor).client(&id).await?.into(),
    ))
}

/// Replaces a client's registration (not its type or secret); the body's `id` must be the
/// path's.
#[utoipa::path(put, operation_id = "update_client", path = "/admin/v1/clients/{id}", tag = tags::CLIENTS,
    params(("id" = String, Path, description = "Client id")),
    request_body = NewClientBody,
    responses((status = 200, body = ClientView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewClientBody>,
) -> Result<Json<ClientView>, ApiError> {
    if body.id != id {
        return Err(ApiError::invalid("id", "the body's id must be the path's"));
    }
    let client = administration(&state, &actor)
        .update_client(body.registration()?)
        .await?;
    Ok(Json(client.into()))
}

/// Deletes a client.
#[utoipa::path(delete, operation_id = "delete_client", path = "/admin/v1/clients/{id}", tag = tags::CLIENTS,
    params(("id" = String, Path, description = "Client id")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    administration(&state, &actor).delete_client(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a confidential client a new secret; the old one stops working at once.
#[utoipa::path(post, operation_id = "rotate_client_secret", path = "/admin/v1/clients/{id}/secret", tag = tags::CLIENTS,
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, body = SecretView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(id): Path<String>,
) -> Result<Json<SecretView>, ApiError> {
    let rotated = administration(&state, &actor)
        .rotate_client_secret(&id)
        .await?;
    Ok(Json(SecretView {
        client_secret: rotated.secret,
    }))
}
