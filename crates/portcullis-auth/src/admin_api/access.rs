//! Who may use the admin API: bearer access tokens from this issuer (audience: the issuer), not
//! revoked. Scope says what the token may do, roles what its user may do; both must allow it:
//!
//! | token | read | write |
//! |---|---|---|
//! | user, scope `portcullis:admin`, role `admin` | yes | yes |
//! | user, scope `portcullis:admin` or `portcullis:audit`, role `admin` or `auditor` | yes | no |
//! | client credentials, scope `portcullis:admin` | yes | yes |
//! | client credentials, scope `portcullis:audit` | yes | no |

use super::error::ApiError;
use crate::bearer::bearer_token;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use portcullis_core::ScopeSet;
use portcullis_service::Actor;
use serde_json::{Map, Value};

/// The scope of full administration.
pub const ADMIN_SCOPE: &str = "portcullis:admin";
/// The scope of read-only access (auditors).
pub const AUDIT_SCOPE: &str = "portcullis:audit";

/// What a request may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Read only (auditors).
    Read,
    /// Read and change (admins).
    Write,
}

/// A caller allowed to read.
pub struct Reader(pub Actor);

/// A caller allowed to change things.
pub struct Writer(pub Actor);

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authorize(parts, state, Capability::Read).await.map(Reader)
    }
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authorize(parts, state, Capability::Write).await.map(Writer)
    }
}

async fn authorize(parts: &Parts, state: &AppState, needed: Capability) -> Result<Actor, ApiError> {
    let token = bearer_token(&parts.headers)
        .ok_or_else(|| ApiError::unauthorized("an admin access token is required"))?;
    let inspector = state.inspector();
    let validated = inspector
        .validate_bearer_token(token, Some(state.settings.issuer()))
        .map_err(|error| ApiError::unauthorized(error.to_string()))?;
    if inspector.is_revoked(&validated.claims).await? {
        return Err(ApiError::unauthorized("the token has been revoked"));
    }
    let claims = &validated.claims;
    let granted = capability(claims);
    match (granted, needed) {
        (Some(Capability::Write), _) | (Some(Capability::Read), Capability::Read) => {}
        (Some(Capability::Read), Capability::Write) => {
            return Err(ApiError::forbidden("read-only access: this needs an admin"));
        }
        (None, _) => {
            return Err(ApiError::forbidden(format!(
                "the token needs scope {ADMIN_SCOPE} or {AUDIT_SCOPE} (and a user the role \
                 admin or auditor)"
            )));
        }
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    Ok(Actor::token(text("sub"), text("client_id")))
}

/// What the token's scope and, for a user's token, roles allow together.
pub fn capability(claims: &Map<String, Value>) -> Option<Capability> {
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let scope = ScopeSet::parse(scope).unwrap_or_default();
    let by_scope = if scope.contains(ADMIN_SCOPE) {
        Some(Capability::Write)
    } else if scope.contains(AUDIT_SCOPE) {
        Some(Capability::Read)
    } else {
        None
    }?;
    // A user's token carries their roles; a client credentials token has none.
    let Some(roles) = claims.get("roles") else {
        return Some(by_scope);
    };
    let has_role = |wanted: &str| {
        roles
            .as_array()
            .is_some_and(|roles| roles.iter().any(|role| role.as_str() == Some(wanted)))
    };
    let by_role = if has_role("admin") {
        Capability::Write
    } else if has_role("auditor") {
        Capability::Read
    } else {
        return None;
    };
    Some(
        if by_scope == Capability::Write && by_role == Capability::Write {
            Capability::Write
        } else {
            Capability::Read
        },
    )
}
