//! Grants: the decisions that turn an authenticated token request into an [`AccessGrant`].
//! One module per grant type; rules shared by all grants (scope and audience) live here.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;
pub mod token_exchange;

use crate::client::is_absolute_uri;
use crate::{Client, ScopeSet, TokenPolicy};
use portcullis_types::{GrantType, OAuthErrorCode};
use thiserror::Error;

/// A refused grant. Each variant is one OAuth error code; the text is the `error_description`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// RFC 6749 §5.2 `invalid_request`.
    #[error("{0}")]
    InvalidRequest(String),
    /// RFC 6749 §5.2 `invalid_grant`.
    #[error("{0}")]
    InvalidGrant(String),
    /// RFC 6749 §5.2 `unauthorized_client`.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// RFC 6749 §5.2 `invalid_scope`.
    #[error("{0}")]
    InvalidScope(String),
    /// RFC 8707 §2 `invalid_target`.
    #[error("{0}")]
    InvalidTarget(String),
}

impl GrantError {
    /// The OAuth error code to return.
    pub fn code(&self) -> OAuthErrorCode {
        match self {
            GrantError::InvalidRequest(_) => OAuthErrorCode::InvalidRequest,
            GrantError::InvalidGrant(_) => OAuthErrorCode::InvalidGrant,
            GrantError::UnauthorizedClient(_) => OAuthErrorCode::UnauthorizedClient,
            GrantError::InvalidScope(_) => OAuthErrorCode::InvalidScope,
            GrantError::InvalidTarget(_) => OAuthErrorCode::InvalidTarget,
        }
    }
}

/// What a token will say: who, for which client, with what scope, for which audiences, how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    /// The grant type that produced it.
    pub grant_type: GrantType,
    /// `sub`.
    pub subject: String,
    /// `client_id`.
    pub client_id: String,
    /// Granted scope.
    pub scope: ScopeSet,
    /// `aud`, never empty (RFC 9068 §2.2).
    pub audiences: Vec<String>,
    /// Lifetime in seconds.
    pub lifetime_secs: i64,
    /// The signed-in user, for grants that have one.
    pub user: Option<UserContext>,
}

/// What an access token says about the user behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserContext {
    /// The username (`preferred_username`), so a service can greet the user by name.
    pub username: String,
    /// Roles at the time of issue.
    pub roles: Vec<String>,
    /// The session.
    pub sid: String,
    /// When the user authenticated.
    pub auth_time: i64,
    /// How the user authenticated.
    pub amr: crate::AuthMethods,
}

/// RFC 6749 §3.3: the requested scope must lie within what the client may ask for; with no
/// `scope` parameter the client's whole allowed scope is granted (the documented default).
///
/// # Errors
/// [`GrantError::InvalidScope`] naming the scopes outside the client's allowance.
pub fn resolve_scope(client: &Client, requested: Option<&str>) -> Result<ScopeSet, GrantError> {
    let Some(requested) = requested else {
        return Ok(client.scopes.clone());
    };
    let requested =
        ScopeSet::parse(requested).map_err(|error| GrantError::InvalidScope(error.to_string()))?;
    if !requested.is_subset(&client.scopes) {
        let missing: Vec<&str> = requested.not_in(&client.scopes).collect();
        return Err(GrantError::InvalidScope(format!(
            "scope not allowed for this client: {}",
            missing.join(" ")
        )));
    }
    Ok(requested)
}

/// RFC 8707: `resource` values (absolute URIs without fragment) and `audience` values select the
/// token's audiences, each of which must be allowed for the client (its registered audiences, or
/// the server's default one when it has none). With neither, every allowed audience is used.
///
/// # Errors
/// [`GrantError::InvalidTarget`].
pub fn resolve_audiences(
    client: &Client,
    resources: &[String],
    audiences: &[String],
    policy: &TokenPolicy,
) -> Result<Vec<String>, GrantError> {
    for resource in resources {
        // RFC 8707 §2: the resource MUST be an absolute URI and MUST NOT include a fragment.
        if !is_absolute_uri(resource) || resource.contains('#') {
            return Err(GrantError::InvalidTarget(
                "resource must be an absolute URI without a fragment".into(),
            ));
        }
    }
    let allowed = policy.allowed_audiences(client);
    let mut requested: Vec<String> = resources.iter().chain(audiences).cloned().collect();
    if requested.is_empty() {
        return Ok(allowed.to_vec());
    }
    requested.sort();
    requested.dedup();
    if let Some(denied) = requested
        .iter()
        .find(|audience| !allowed.contains(audience))
    {
        return Err(GrantError::InvalidTarget(format!(
            "audience not allowed for this client: {denied}"
        )));
    }
    Ok(requested)
}
