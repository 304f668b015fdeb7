//! `/admin/v1/federation/providers`: upstream identity providers users sign in through, beside
//! those of the configuration file. A change takes effect on this server at once and on the
//! others of a cluster at their next key refresh. Client secrets are write-only.

use super::access::{Reader, Writer};
use super::body::ApiJson;
use super::error::{ApiError, ApiErrorBody};
use super::{administration, tags};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portcullis_core::federation::{ProviderSpec, RoleRuleSpec};
use portcullis_service::admin::ProviderListing;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A role granted to new accounts whose claim has (or, for a list, contains) a value.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRuleBody {
    /// The claim, dotted for nested objects (`realm_access.roles`).
    pub claim: String,
    /// The value.
    pub value: String,
    /// The local role.
    pub role: String,
}

/// An upstream provider, as written (docs/configuration.md#federation has every field).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderBody {
    /// The name on its button.
    pub name: String,
    /// `oidc` (found by `issuer`) or `oauth2` (the three endpoints).
    #[serde(default = "oidc")]
    pub protocol: String,
    /// The issuer identifier (required for `oidc`).
    pub issuer: Option<String>,
    /// `oauth2`: the authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// `oauth2`: the token endpoint.
    pub token_endpoint: Option<String>,
    /// `oauth2`: the profile URL.
    pub userinfo_endpoint: Option<String>,
    /// This server's client id there.
    pub client_id: String,
    /// Its secret there (write-only; omitted on a change: the stored one is kept).
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// Authenticate with `private_key_jwt` signed by this server's key instead of a secret.
    #[serde(default)]
    pub private_key_jwt: bool,
    /// The scopes asked for.
    pub scopes: Option<String>,
    /// `create` (a first sign-in makes an account) or `existing`.
    #[serde(default = "create")]
    pub accounts: String,
    /// An address this provider verified links to the account that has it verified.
    #[serde(default)]
    pub link_by_verified_email: bool,
    /// The subject claim (`sub`).
    pub subject_claim: Option<String>,
    /// The username claim (`preferred_username`).
    pub username_claim: Option<String>,
    /// The address claim (`email`).
    pub email_claim: Option<String>,
    /// The claim of the address's verification (`email_verified`).
    pub email_verified_claim: Option<String>,
    /// Roles granted to new accounts by their claims.
    #[serde(default)]
    pub roles: Vec<RoleRuleBody>,
    /// Signing out here also signs out at the provider.
    #[serde(default)]
    pub upstream_logout: bool,
    /// Address domains whose `login_hint` goes straight to this provider.
    #[serde(default)]
    pub domains: Vec<String>,
}

impl std::fmt::Debug for ProviderBody {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ProviderBody")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn oidc() -> String {
    portcullis_core::federation::DEFAULT_PROTOCOL.to_owned()
}

fn create() -> String {
    portcullis_core::federation::DEFAULT_ACCOUNTS.to_owned()
}

impl ProviderBody {
    /// The provider `id` as written.
    fn spec(self, id: String) -> ProviderSpec {
        let defaults = portcullis_core::federation::ClaimMapping::default();
        ProviderSpec {
            id,
            name: self.name,
            protocol: self.protocol,
            issuer: self.issuer,
            authorization_endpoint: self.authorization_endpoint,
            token_endpoint: self.token_endpoint,
            userinfo_endpoint: self.userinfo_endpoint,
            client_id: self.client_id,
            client_secret: self.client_secret,
            private_key_jwt: self.private_key_jwt,
            scopes: self.scopes,
            accounts: self.accounts,
            link_by_verified_email: self.link_by_verified_email,
            subject_claim: self.subject_claim.unwrap_or(defaults.subject),
            username_claim: self.username_claim.unwrap_or(defaults.username),
            email_claim: self.email_claim.unwrap_or(defaults.email),
            email_verified_claim: self.email_verified_claim.unwrap_or(defaults.email_verified),
            roles: self
                .roles
                .into_iter()
                .map(|rule| RoleRuleSpec {
                    claim: rule.claim,
                    value: rule.value,
                    role: rule.role,
                })
                .collect(),
            upstream_logout: self.upstream_logout,
            domains: self.domains,
        }
    }
}

/// A provider of the admin API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderView {
    /// Its id.
    pub id: String,
    /// As written (no secret).
    pub provider: ProviderBody,
    /// Whether a client secret is stored.
    pub has_secret: bool,
    /// When it was last changed (Unix seconds).
    pub updated_at: i64,
}

impl From<ProviderListing> for ProviderView {
    fn from(listing: ProviderListing) -> Self {
        let spec = listing.spec;
        ProviderView {
            id: spec.id,
            provider: ProviderBody {
                name: spec.name,
                protocol: spec.protocol,
                issuer: spec.issuer,
                authorization_endpoint: spec.authorization_endpoint,
                token_endpoint: spec.token_endpoint,
                userinfo_endpoint: spec.userinfo_endpoint,
                client_id: spec.client_id,
                client_secret: None,
                private_key_jwt: spec.private_key_jwt,
                scopes: spec.scopes,
                accounts: spec.accounts,
                link_by_verified_email: spec.link_by_verified_email,
                subject_claim: Some(spec.subject_claim),
                username_claim: Some(spec.username_claim),
                email_claim: Some(spec.email_claim),
                email_verified_claim: Some(spec.email_verified_claim),
                roles: spec
                    .roles
                    .into_iter()
                    .map(|rule| RoleRuleBody {
                        claim: rule.claim,
                        value: rule.value,
                        role: rule.role,
                    })
                    .collect(),
                upstream_logout: spec.upstream_logout,
                domains: spec.domains,
            },
            has_secret: listing.has_secret,
            updated_at: listing.updated_at,
        }
    }
}

/// The providers added through the admin API, by id (those of the configuration file are not
/// listed).
#[utoipa::path(get, operation_id = "list_federation_providers",
    path = "/admin/v1/federation/providers", tag = tags::FEDERATION,
    responses((status = 200, body = Vec<ProviderView>), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Reader(actor): Reader,
) -> Result<Json<Vec<ProviderView>>, ApiError> {
    let providers = administration(&state, &actor)
        .federation_providers()
        .await?;
    Ok(Json(
        providers.into_iter().map(ProviderView::from).collect(),
    ))
}

/// Creates the provider or replaces it; its sign-in button appears at once.
#[utoipa::path(put, operation_id = "put_federation_provider",
    path = "/admin/v1/federation/providers/{id}", tag = tags::FEDERATION,
    params(("id" = String, Path, description = "Provider id: a-z, 0-9 and -")),
    request_body = ProviderBody,
    responses((status = 200, body = ProviderView), (status = 400, body = ApiErrorBody),
        (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ProviderBody>,
) -> Result<Json<ProviderView>, ApiError> {
    // The server requests these itself: refused before they are stored when the SSRF guard
    // would refuse them at sign-in (the guard checks them again then, and the metadata's).
    // A file provider's id is refused as such (409) by the use case below, whatever its URLs.
    let checked = !state.upstreams.is_configured(&id);
    let discovered = body.protocol == "oidc";
    for (field, url) in [
        ("issuer", if discovered { &body.issuer } else { &None }),
        ("token_endpoint", &body.token_endpoint),
        ("userinfo_endpoint", &body.userinfo_endpoint),
    ] {
        if checked
            && let Some(url) = url
            && let Err(error) = state.upstreams.check_managed_url(url)
        {
            return Err(ApiError::invalid(field, error.to_string()));
        }
    }
    let upstreams = state.upstreams.clone();
    let reserved = move |id: &str| upstreams.is_configured(id);
    let listing = administration(&state, &actor)
        .put_federation_provider(body.spec(id), &state.factor_sealer, &reserved)
        .await?;
    state.reload_upstreams().await?;
    Ok(Json(listing.into()))
}

/// Deletes a provider and the accounts' links to it (a later provider of the same id may be
/// another one).
#[utoipa::path(delete, operation_id = "delete_federation_provider",
    path = "/admin/v1/federation/providers/{id}", tag = tags::FEDERATION,
    params(("id" = String, Path, description = "Provider id")),
    responses((status = 204), (status = 401, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Writer(actor): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    administration(&state, &actor)
        .delete_federation_provider(&id)
        .await?;
    state.reload_upstreams().await?;
    Ok(StatusCode::NO_CONTENT)
}
