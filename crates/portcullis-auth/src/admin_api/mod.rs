//! The admin API: JSON over HTTP on the auth server's separate admin listener (never the public
//! one), with `/healthz`, `/readyz` and `/metrics` beside it. Handlers are thin callers of the
//! service layer's [`Administration`]; the OpenAPI 3.1 document at `/admin/openapi.json` is
//! generated from the same handlers that are routed, so the two cannot drift.

pub mod access;
pub mod apply;
pub mod audit;
mod body;
pub mod client_tokens;
pub mod clients;
pub mod error;
pub mod invitations;
pub mod keys;
pub mod providers;
pub mod revocations;
pub mod roles;
pub mod sessions;
pub mod users;

use crate::routes::health;
use crate::state::AppState;
use axum::Router;
use axum::routing::get;
use portcullis_service::{Actor, Administration};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/admin/openapi.json";

/// Tags grouping the operations.
mod tags {
    pub const USERS: &str = "users";
    pub const ROLES: &str = "roles";
    pub const CLIENTS: &str = "clients";
    pub const SESSIONS: &str = "sessions";
    pub const KEYS: &str = "keys";
    pub const AUDIT: &str = "audit";
    pub const APPLY: &str = "apply";
    pub const REVOCATIONS: &str = "revocations";
    pub const INVITATIONS: &str = "invitations";
    pub const FEDERATION: &str = "federation";
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis admin API",
        description = "Users, invitations, roles, clients, sessions, signing keys, upstream identity providers and the audit log. Bearer access \
            tokens of this issuer (audience: the issuer) with scope portcullis:admin (read and \
            write) or portcullis:audit (read); a user's token also needs the role admin (or \
            auditor, read-only). Errors are {error, message, field}."
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The admin API's routes and their OpenAPI document, built together.
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::update, users::delete))
        .routes(routes!(users::set_password))
        .routes(routes!(users::sessions))
        .routes(routes!(users::revoke_consent))
        .routes(routes!(users::reset_factors))
        .routes(routes!(invitations::create))
        .routes(routes!(roles::list))
        .routes(routes!(roles::put, roles::delete))
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(client_tokens::list, client_tokens::create))
        .routes(routes!(client_tokens::revoke))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::revoke))
        .routes(routes!(keys::list))
        .routes(routes!(keys::rotate))
        .routes(routes!(audit::search))
        .routes(routes!(revocations::list))
        .routes(routes!(apply::apply))
        .routes(routes!(providers::list))
        .routes(routes!(providers::put, providers::delete))
        .split_for_parts()
}

/// The OpenAPI 3.1 document of the admin API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().1
}

/// The admin listener's application: the admin API, its OpenAPI document, health and metrics.
pub fn router(state: AppState) -> Router {
    let (api, document) = documented();
    let document = std::sync::Arc::new(document);
    api.route(
        OPENAPI_PATH,
        get(move || {
            let document = document.clone();
            async move { axum::Json(document.as_ref().clone()) }
        }),
    )
    .route("/healthz", get(health::healthz))
    .route("/readyz", get(health::readyz))
    .route("/metrics", get(health::metrics))
    .merge(crate::console::routes())
    .fallback(|| async { error::ApiError::not_found("no such admin resource") })
    .with_state(state)
}

/// The service layer's administration for one request by `actor`.
pub(crate) fn administration<'a>(state: &'a AppState, actor: &'a Actor) -> Administration<'a> {
    Administration {
        store: state.store.as_ref(),
        revoker: state.revoker(),
        audit: &state.audit,
        clock: state.clock.as_ref(),
        hasher: state.credentials.hasher(),
        max_access_token_lifetime_secs: state.settings.token_policy.max_access_token_lifetime_secs,
        actor,
    }
}
