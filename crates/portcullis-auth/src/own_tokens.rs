//! Checking tokens this server issued: access tokens presented to userinfo, introspection and
//! revocation, and id tokens presented as `id_token_hint` at logout.

use crate::state::AppState;
use axum::http::{HeaderMap, header};
use portcullis_core::RevocationKind;
use portcullis_jose::{AccessTokenValidation, UnverifiedJws, ValidatedToken, ValidationError};
use portcullis_service::StoreError;
use serde_json::{Map, Value};

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Validates one of our access tokens (signature, `typ`, issuer, time, and `audience` if given).
///
/// # Errors
/// Why it is not valid.
pub fn validate_access_token(
    state: &AppState,
    token: &str,
    audience: Option<&str>,
) -> Result<ValidatedToken, ValidationError> {
    let now = state.clock.now();
    AccessTokenValidation {
        issuer: state.settings.issuer().to_owned(),
        audience: audience.map(str::to_owned),
        leeway_secs: 0,
    }
    .validate(token, &state.keys.verification_keys(now), now)
}

/// Whether the revocation list names the token's `jti`, `sid` or `sub`.
///
/// # Errors
/// Store failures.
pub async fn is_revoked(state: &AppState, claims: &Map<String, Value>) -> Result<bool, StoreError> {
    let now = state.clock.now();
    for (kind, claim) in [
        (RevocationKind::TokenId, "jti"),
        (RevocationKind::Session, "sid"),
        (RevocationKind::Subject, "sub"),
    ] {
        if let Some(value) = claims.get(claim).and_then(Value::as_str)
            && state.store.is_revoked(kind, value, now).await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The claims of an id token this server signed, if its signature and issuer check out. Expiry is
/// not checked: OpenID Connect RP-Initiated Logout §2 accepts an expired `id_token_hint`.
pub fn id_token_hint_claims(state: &AppState, token: &str) -> Option<Map<String, Value>> {
    let keys = state.keys.verification_keys(state.clock.now());
    let payload = UnverifiedJws::parse(token).ok()?.verify(&keys).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&payload).ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(state.settings.issuer())).then_some(claims)
}
