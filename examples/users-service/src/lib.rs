//! The users example service: `GET /users/me` greets the caller by name, `GET /users` is for
//! admins, and `GET /users/admin/report` for admins who signed in with two factors (step-up,
//! RFC 9470).

use axum::Json;
use axum::Router;
use axum::routing::get;
use portcullis_sdk::{AuthError, AuthenticationRequirement, Identity, Verifier};
use serde_json::{Value, json};
use std::sync::Arc;

/// The service's routes, identifying callers with `verifier`.
pub fn router(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/users/me", get(me))
        .route("/users", get(list))
        .route("/users/admin/report", get(report))
        .with_state(verifier)
}

/// The caller's identity, as the token says.
async fn me(identity: Identity) -> Json<Value> {
    let name = identity.username.as_deref().unwrap_or(&identity.subject);
    let greeting = if identity.roles.is_empty() {
        format!("Welcome, {name}!")
    } else {
        format!("Welcome, {name}! You are {}.", identity.roles.join(", "))
    };
    Json(json!({
        "message": greeting,
        "subject": identity.subject,
        "username": identity.username,
        "client_id": identity.client_id,
        "scopes": identity.scopes,
        "roles": identity.roles,
        "session_id": identity.session_id,
    }))
}

/// Admins only.
async fn list(identity: Identity) -> Result<Json<Value>, AuthError> {
    identity.require_role("admin")?;
    Ok(Json(
        json!({ "users": ["(the auth server owns the user list; this is an example)"], "asked_by": identity.subject }),
    ))
}

/// The class of a sign-in with two factors at the Portcullis auth server.
pub const TWO_FACTORS: &str = "urn:portcullis:acr:aal2";

/// Admins who signed in with two factors: the gateway's route requires it too, and the service
/// checks it again (defence in depth; a token without it gets the RFC 9470 challenge).
async fn report(identity: Identity) -> Result<Json<Value>, AuthError> {
    identity.require_authentication(&AuthenticationRequirement {
        acr_values: vec![TWO_FACTORS.to_owned()],
        amr: vec!["mfa".to_owned()],
        max_age_secs: None,
    })?;
    identity.require_role("admin")?;
    Ok(Json(json!({
        "report": "(an example of data worth a second factor)",
        "asked_by": identity.subject,
        "amr": identity.amr(),
    })))
}
