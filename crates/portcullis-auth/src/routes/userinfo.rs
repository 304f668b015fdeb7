//! `GET/POST /userinfo` (OpenID Connect Core §5.3) with a Bearer access token (RFC 6750 §2.1).
//! Errors follow RFC 6750 §3: 401 with `WWW-Authenticate: Bearer error="invalid_token"`, 403 with
//! `insufficient_scope`.

use super::unavailable_page;
use crate::bearer::bearer_token;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::ScopeSet;
use portcullis_core::id_token::profile_claims;
use serde_json::{Value, json};

fn bearer_error(status: StatusCode, error: Option<&str>, description: &str) -> Response {
    let challenge = match error {
        Some(error) => format!(
            r#"Bearer realm="portcullis", error="{error}", error_description="{description}""#
        ),
        None => r#"Bearer realm="portcullis""#.to_owned(),
    };
    let mut response = (status, Json(json!({ "error": error.unwrap_or("invalid_request"), "error_description": description }))).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(super) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer_token(&headers) else {
        // RFC 6750 §3.1: no error code when the request carried no token at all.
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            None,
            "an access token is required",
        );
    };
    let validated = match state
        .inspector()
        .validate_bearer_token(token, Some(state.settings.issuer()))
    {
        Ok(validated) => validated,
        Err(error) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                &error.to_string(),
            );
        }
    };
    match state.inspector().is_revoked(&validated.claims).await {
        Ok(false) => {}
        Ok(true) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "token has been revoked",
            );
        }
        Err(error) => return unavailable_page(&state, &error),
    }
    let scope = validated
        .claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let scope = ScopeSet::parse(scope).unwrap_or_default();
    if !scope.contains("openid") {
        let mut response = bearer_error(
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "the openid scope is required",
        );
        if let Ok(value) = HeaderValue::from_str(
            r#"Bearer realm="portcullis", error="insufficient_scope", scope="openid""#,
        ) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        return response;
    }
    let subject = validated
        .claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = match state.store.find_user_by_id(subject).await {
        Ok(Some(user)) if user.disabled_at.is_none() => user,
        Ok(_) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "the user no longer exists",
            );
        }
        Err(error) => return unavailable_page(&state, &error),
    };
    let mut claims = profile_claims(&user, &scope);
    claims.insert("sub".into(), user.id.into());
    ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response()
}
