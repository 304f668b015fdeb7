//! Gateway errors and their responses. Client faults are 4xx in RFC 6750 form, upstream faults
//! 502/504, our own faults 500/503 (pingora's rule: an error knows its source). Bodies are JSON and
//! never reveal keys or internals.

use crate::authenticate::AuthFailure;
use crate::policy::Denial;
use crate::request_target::TargetRejection;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// What ends a request before or instead of the upstream's answer.
#[derive(Debug)]
pub enum GatewayError {
    /// No route matches.
    NoRoute,
    /// No route covers the request a proxy in front asks about: 403, since nginx's
    /// `auth_request` understands only 2xx, 401 and 403.
    NotCovered,
    /// The request target cannot be routed safely (path or host).
    BadTarget(TargetRejection),
    /// Another malformed request.
    BadRequest(&'static str),
    /// Authentication failed.
    Auth(AuthFailure),
    /// The policy refused the identity.
    Denied(Denial),
    /// Rate limited.
    RateLimited {
        /// When to retry.
        retry_after: Duration,
    },
    /// The request body is larger than the route allows.
    BodyTooLarge,
    /// The upstream could not be reached or failed mid-request.
    BadGateway,
    /// The upstream did not answer in time.
    GatewayTimeout,
    /// Every connection the upstream may have is taken and the request could not wait: 503.
    UpstreamOverloaded,
    /// A cross-site request would use a browser session (CSRF): 403.
    CrossSite,
    /// The session store cannot be reached, or the sign-in provider not discovered: 503.
    SessionsUnavailable,
}

impl GatewayError {
    /// A short reason, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            GatewayError::NoRoute | GatewayError::NotCovered => "no_route",
            GatewayError::BadTarget(_) | GatewayError::BadRequest(_) => "bad_request",
            GatewayError::Auth(AuthFailure::Missing) => "missing_token",
            GatewayError::Auth(AuthFailure::Malformed) => "malformed_request",
            GatewayError::Auth(AuthFailure::Invalid(_)) => "invalid_token",
            GatewayError::Auth(AuthFailure::Revoked) => "revoked_token",
            GatewayError::Auth(AuthFailure::KeysUnavailable) => "keys_unavailable",
            GatewayError::Auth(AuthFailure::IntrospectionUnavailable) => {
                "introspection_unavailable"
            }
            GatewayError::Auth(AuthFailure::DpopRequired(_)) => "dpop_required",
            GatewayError::Auth(AuthFailure::InvalidDpopProof(_)) => "invalid_dpop_proof",
            GatewayError::Auth(AuthFailure::UseDpopNonce(_)) => "use_dpop_nonce",
            GatewayError::Denied(Denial::Scope(_)) => "insufficient_scope",
            GatewayError::Denied(Denial::Role) => "missing_role",
            GatewayError::Denied(Denial::Audience) => "wrong_audience",
            GatewayError::Denied(Denial::Issuer) => "wrong_issuer",
            GatewayError::Denied(Denial::Authentication { .. }) => {
                "insufficient_user_authentication"
            }
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::BodyTooLarge => "body_too_large",
            GatewayError::BadGateway => "bad_gateway",
            GatewayError::GatewayTimeout => "gateway_timeout",
            GatewayError::UpstreamOverloaded => "upstream_overloaded",
            GatewayError::CrossSite => "cross_site",
            GatewayError::SessionsUnavailable => "sessions_unavailable",
        }
    }
}

/// Quotes a value for an auth-param (RFC 9110 §11.2): only characters that need no escaping.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii() && *c != '"' && *c != '\\' && !c.is_control())
        .collect()
}

fn bearer(
    status: StatusCode,
    error: Option<&str>,
    description: &str,
    params: &[(&str, &str)],
) -> Response {
    let mut challenge = String::from("Bearer realm=\"portcullis\"");
    if let Some(error) = error {
        challenge.push_str(&format!(
            ", error=\"{error}\", error_description=\"{}\"",
            quoted(description)
        ));
    }
    for (name, value) in params {
        challenge.push_str(&format!(", {name}=\"{}\"", quoted(value)));
    }
    let body =
        json!({ "error": error.unwrap_or("unauthorized"), "error_description": description });
    let mut response = (status, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// RFC 9449 §7.1: a 401 with a `DPoP` challenge naming the error and the algorithms accepted.
fn dpop(error: &str, description: &str) -> Response {
    let algs: Vec<&str> = portcullis_jose::Algorithm::ALL
        .iter()
        .map(|alg| alg.as_str())
        .collect();
    let challenge = format!(
        "DPoP error=\"{error}\", error_description=\"{}\", algs=\"{}\"",
        quoted(description),
        algs.join(" ")
    );
    let body = json!({ "error": error, "error_description": description });
    let mut response = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A JSON error answer (`error`, `error_description`) with `status`.
pub(crate) fn plain(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match self {
            GatewayError::NoRoute => {
                plain(StatusCode::NOT_FOUND, "not_found", "no route for this path")
            }
            GatewayError::NotCovered => plain(
                StatusCode::FORBIDDEN,
                "access_denied",
                "no route covers this path",
            ),
            GatewayError::BadTarget(rejection) => plain(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &rejection.to_string(),
            ),
            GatewayError::BadRequest(description) => {
                plain(StatusCode::BAD_REQUEST, "invalid_request", description)
            }
            // RFC 6750 §3.1: no error code when the request had no token.
            GatewayError::Auth(AuthFailure::Missing) => bearer(
                StatusCode::UNAUTHORIZED,
                None,
                "an access token is required",
                &[],
            ),
            GatewayError::Auth(AuthFailure::Malformed) => bearer(
                StatusCode::BAD_REQUEST,
                Some("invalid_request"),
                "malformed Authorization header",
                &[],
            ),
            GatewayError::Auth(AuthFailure::Invalid(description)) => bearer(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                &description,
                &[],
            ),
            GatewayError::Auth(AuthFailure::Revoked) => bearer(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "token has been revoked",
                &[],
            ),
            GatewayError::Auth(AuthFailure::DpopRequired(description)) => {
                dpop("invalid_token", &description)
            }
            GatewayError::Auth(AuthFailure::InvalidDpopProof(description)) => {
                dpop("invalid_dpop_proof", &description)
            }
            // RFC 9449 §9: 401 with a `use_dpop_nonce` challenge and the nonce in `DPoP-Nonce`.
            GatewayError::Auth(AuthFailure::UseDpopNonce(nonce)) => {
                let mut response = dpop(
                    "use_dpop_nonce",
                    "the DPoP proof must carry the nonce in DPoP-Nonce",
                );
                if let Ok(value) = HeaderValue::from_str(&nonce) {
                    response.headers_mut().insert("dpop-nonce", value);
                }
                response
            }
            GatewayError::Auth(AuthFailure::KeysUnavailable) => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "token keys are not available yet",
            ),
            GatewayError::Auth(AuthFailure::IntrospectionUnavailable) => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the token's issuer cannot be asked about it now",
            ),
            GatewayError::Denied(Denial::Scope(scope)) => bearer(
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "the token lacks a required scope",
                &[("scope", &scope)],
            ),
            GatewayError::Denied(Denial::Role) => bearer(
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                "a required role is missing",
                &[],
            ),
            // RFC 9470 §3: what the client asks the authorization server for to step up.
            GatewayError::Denied(Denial::Authentication {
                acr_values,
                max_age,
            }) => {
                let max_age = max_age.map(|age| age.to_string());
                let params: Vec<(&str, &str)> = [
                    acr_values.as_deref().map(|values| ("acr_values", values)),
                    max_age.as_deref().map(|age| ("max_age", age)),
                ]
                .into_iter()
                .flatten()
                .collect();
                bearer(
                    StatusCode::UNAUTHORIZED,
                    Some("insufficient_user_authentication"),
                    "a stronger or more recent sign-in is required",
                    &params,
                )
            }
            GatewayError::Denied(Denial::Audience) => bearer(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "token audience is not accepted",
                &[],
            ),
            GatewayError::Denied(Denial::Issuer) => bearer(
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                "token issuer is not accepted on this route",
                &[],
            ),
            GatewayError::RateLimited { retry_after } => {
                let mut response = plain(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests",
                );
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            GatewayError::BodyTooLarge => plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body is too large",
            ),
            GatewayError::BadGateway => plain(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the upstream service failed",
            ),
            GatewayError::GatewayTimeout => plain(
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "the upstream service did not answer in time",
            ),
            GatewayError::UpstreamOverloaded => {
                let mut response = plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the upstream service is at its connection limit: retry shortly",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            GatewayError::CrossSite => plain(
                StatusCode::FORBIDDEN,
                "access_denied",
                "a request from another origin cannot use the browser session",
            ),
            GatewayError::SessionsUnavailable => plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "browser sessions are not available now",
            ),
        }
    }
}
