//! The products example service. `GET /products` needs the scope `products:read` **or** any
//! signed-in user (a token with a `sid`, i.e. from a browser or CLI sign-in); `POST /products`
//! needs the role `admin` and a valid JSON body; `GET /public` and `GET /public/products` need
//! nothing (the gateway routes them as public).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, extract::rejection::JsonRejection};
use portcullis_sdk::{AuthError, Identity, Verifier};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// The service's routes, identifying callers with `verifier`.
pub fn router(verifier: Arc<Verifier>) -> Router {
    Router::new()
        .route("/products", get(list).post(create))
        .route("/public", get(welcome))
        .route("/public/products", get(catalogue))
        .with_state(verifier)
}

/// The shop's products (also what the MCP example's tool lists).
pub fn products() -> Value {
    json!([{"id": 1, "name": "Portcullis T-shirt", "price_cents": 2000}, {"id": 2, "name": "Drawbridge", "price_cents": 990000}])
}

async fn welcome() -> Json<Value> {
    Json(
        json!({ "message": "Welcome to the public part of the shop: no token needed.", "products": "/public/products" }),
    )
}

async fn catalogue() -> Json<Value> {
    Json(json!({ "products": products(), "note": "public: no token needed" }))
}

async fn list(identity: Identity) -> Result<Json<Value>, AuthError> {
    if identity.session_id.is_none() {
        identity.require_scope("products:read")?;
    }
    Ok(Json(json!({ "products": products() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    name: String,
    price_cents: u64,
}

async fn create(
    identity: Identity,
    body: Result<Json<NewProduct>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), Response> {
    identity.require_role("admin").map_err(Response::Auth)?;
    let Json(product) = body.map_err(|rejection| Response::Invalid(rejection.body_text()))?;
    if product.name.trim().is_empty() || product.name.len() > 200 {
        return Err(Response::Invalid("name must be 1-200 characters".into()));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "created": { "name": product.name, "price_cents": product.price_cents } })),
    ))
}

/// Errors of `POST /products`.
enum Response {
    Auth(AuthError),
    Invalid(String),
}

impl axum::response::IntoResponse for Response {
    fn into_response(self) -> axum::response::Response {
        match self {
            Response::Auth(error) => error.into_response(),
            Response::Invalid(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": "invalid_body", "error_description": message })),
            )
                .into_response(),
        }
    }
}
