//! The users example service: `GET /users/me` greets the caller by name, `GET /users` is for
//! admins.

use axum::Json;
use axum::Router;
use axum::routing::get;
use portcullis_sdk::{AuthError, Identity, Verifier};
use serde_json::{Value, json};
use std::sync::Arc;

/// The service's routes, identifying callers with `verifier`.
pub fn router(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/users/me", get(me))
        .route("/users", get(list))
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
