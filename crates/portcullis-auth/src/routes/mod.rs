//! The auth server's HTTP routes.

mod account;
mod account_factors;
mod account_links;
mod account_tokens;
mod authorize;
mod client_registration;
mod device;
mod device_authorization;
mod discovery;
mod email_verification;
mod federation;
pub(crate) mod health;
mod jwks;
mod login;
mod logout;
mod par;
mod passkeys;
pub(crate) mod password_reset;
mod registration;
mod revocation;
mod second_factor;
mod sign_in;
mod token;
mod userinfo;

use crate::pages::{self, Page};
use crate::request_id::{AssignRequestId, AssignRequestIdLayer};
use crate::route_metrics::TrackRequestsLayer;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower::Layer;

/// Paths of the endpoints, named once.
pub mod paths {
    /// Authorization endpoint.
    pub const AUTHORIZE: &str = "/authorize";
    /// Sign-in page.
    pub const SIGN_IN: &str = "/signin";
    /// The signed-in user's account page.
    pub const ACCOUNT: &str = "/account";
    /// Asking for a password reset link.
    pub const FORGOT: &str = "/forgot";
    /// Choosing a new password through the link.
    pub const RESET: &str = "/reset";
    /// Self-service registration.
    pub const REGISTER: &str = "/register";
    /// Following an email verification link.
    pub const VERIFY_EMAIL: &str = "/verify-email";
    /// JSON sign-in for first-party apps.
    pub const LOGIN: &str = "/login";
    /// Token endpoint.
    pub const TOKEN: &str = "/token";
    /// Pushed authorization requests (RFC 9126).
    pub const PAR: &str = "/par";
    /// Dynamic client registration (RFC 7591 §3); a client's own registration below it (RFC 7592).
    pub const CLIENT_REGISTRATION: &str = "/oauth/register";
    /// Device authorization endpoint (RFC 8628 §3.1).
    pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
    /// Where a user types a device's user code (RFC 8628 §3.3).
    pub const DEVICE: &str = "/device";
    /// Userinfo endpoint.
    pub const USERINFO: &str = "/userinfo";
    /// Revocation endpoint (RFC 7009).
    pub const REVOKE: &str = "/revoke";
    /// Introspection endpoint (RFC 7662).
    pub const INTROSPECT: &str = "/introspect";
    /// Revocation feed for gateways.
    pub const REVOCATIONS: &str = "/revocations";
    /// RP-initiated logout.
    pub const LOGOUT: &str = "/logout";
    /// JWK Set.
    pub const JWKS: &str = "/.well-known/jwks.json";
}

/// The pages' passkey script.
pub(crate) const PASSKEY_SCRIPT: &str = "/assets/passkeys.js";

/// Form and token requests are small; anything larger is refused before parsing.
const FORM_BODY_LIMIT: usize = 64 * 1024;

/// The auth server application: its routes, each counted in the metrics, behind the form body
/// limit and the request id (which wrap the whole router once, not each route).
pub type App = AssignRequestId<<DefaultBodyLimit as Layer<Router>>::Service>;

/// The complete auth server application.
pub fn router(state: AppState) -> App {
    let track_requests = TrackRequestsLayer::new(state.metrics.clone());
    let routes = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::metadata),
        )
        .route(paths::JWKS, get(jwks::jwks))
        .route(
            paths::AUTHORIZE,
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(paths::SIGN_IN, get(sign_in::page).post(sign_in::submit))
        .route(
            second_factor::CODE,
            get(second_factor::code_form).post(second_factor::code_submit),
        )
        .route(
            second_factor::ENROLL,
            get(second_factor::enroll_form).post(second_factor::enroll_submit),
        )
        .route("/signin/passkey/options", post(passkeys::sign_in_options))
        .route("/signin/passkey", post(passkeys::sign_in))
        .route(
            "/signin/code/passkey/options",
            post(passkeys::second_factor_options),
        )
        .route("/signin/code/passkey", post(passkeys::second_factor))
        .route(
            "/account/passkeys/options",
            post(passkeys::registration_options),
        )
        .route("/account/passkeys", post(passkeys::register))
        .route(
            account_factors::REMOVE_PASSKEY,
            post(account_factors::remove_passkey),
        )
        .route(PASSKEY_SCRIPT, get(passkeys::script))
        .route(paths::LOGIN, post(login::login))
        .route(paths::ACCOUNT, get(account::page))
        .route("/account/sessions/end", post(account::end_session))
        .route(
            "/account/applications/revoke",
            post(account::revoke_application),
        )
        .route("/account/password", post(account::change_password))
        .route(account_tokens::CREATE, post(account_tokens::create))
        .route(account_tokens::REVOKE, post(account_tokens::revoke))
        .route(
            account_factors::SETUP,
            get(account_factors::setup_form).post(account_factors::setup_submit),
        )
        .route(account_factors::REMOVE, post(account_factors::remove))
        .route(
            account_factors::RECOVERY_CODES,
            post(account_factors::new_recovery_codes),
        )
        .route("/account/email", post(account::change_email))
        .route("/account/sessions/end-all", post(account::end_all_sessions))
        .route(account_links::LINK, post(account_links::link))
        .route(account_links::UNLINK, post(account_links::unlink))
        .route("/federation/{id}/start", get(federation::start))
        .route("/federation/{id}/callback", get(federation::callback))
        .route("/federation/{id}/signed-out", get(federation::signed_out))
        .route(
            paths::REGISTER,
            get(registration::register_page).post(registration::register_submit),
        )
        .route(
            paths::VERIFY_EMAIL,
            get(email_verification::confirm_page).post(email_verification::confirm),
        )
        .route(
            paths::FORGOT,
            get(password_reset::forgot_page).post(password_reset::forgot_submit),
        )
        .route(
            paths::RESET,
            get(password_reset::reset_page).post(password_reset::reset_submit),
        )
        .route(paths::TOKEN, post(token::token))
        .route(paths::PAR, post(par::push))
        .route(
            paths::DEVICE_AUTHORIZATION,
            post(device_authorization::start),
        )
        .route(paths::DEVICE, get(device::page).post(device::submit))
        .route(
            paths::CLIENT_REGISTRATION,
            post(client_registration::register),
        )
        .route(
            "/oauth/register/{client_id}",
            get(client_registration::read)
                .put(client_registration::update)
                .delete(client_registration::delete),
        )
        .route(
            paths::USERINFO,
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route(paths::REVOKE, post(revocation::revoke))
        .route(paths::INTROSPECT, post(revocation::introspect))
        .route(paths::REVOCATIONS, get(revocation::feed))
        .route(paths::LOGOUT, get(logout::confirm).post(logout::logout))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::public_readyz))
        .fallback(not_found)
        .layer(track_requests)
        .with_state(state);
    AssignRequestIdLayer.layer(DefaultBodyLimit::max(FORM_BODY_LIMIT).layer(routes))
}

async fn not_found() -> (StatusCode, axum::Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found"})),
    )
}

/// An OAuth-style JSON error: `{"error": code, "error_description": description}`.
pub(crate) fn error_json(status: StatusCode, code: &str, description: &str) -> Response {
    let body = serde_json::json!({
        "error": code,
        "error_description": description,
    });
    (status, axum::Json(body)).into_response()
}

/// 429 in the token endpoint's error format, for a client with too many requests waiting.
pub(crate) fn too_many_requests(description: &str) -> Response {
    error_json(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        description,
    )
}

/// `uri` with `params` (form-encoded) appended to its query.
pub(crate) fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        serializer.append_pair(name, value);
    }
    let query = serializer.finish();
    if query.is_empty() {
        uri.to_owned()
    } else if uri.contains('?') {
        format!("{uri}&{query}")
    } else {
        format!("{uri}?{query}")
    }
}

/// A 303 redirect to `uri` with `params` appended to its query.
pub(crate) fn redirect_with(uri: &str, params: &[(&str, &str)]) -> Response {
    let location = with_query(uri, params);
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An HTML error page.
pub(crate) fn error_page(state: &AppState, status: StatusCode, message: &str) -> Response {
    Page {
        status,
        title: "Something went wrong".to_owned(),
        body: pages::message(message),
        cookies: Vec::new(),
    }
    .render(&state.settings.sign_in.product_name)
}

/// The page for a store failure: logged in full, shown generically.
pub(crate) fn unavailable_page(
    state: &AppState,
    error: &portcullis_service::StoreError,
) -> Response {
    tracing::error!(%error, "store error");
    error_page(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "The service is temporarily unavailable. Please try again.",
    )
}
