//! The device authorization grant (RFC 8628): what a device may ask for at the device
//! authorization endpoint (§3.1), and the grant its approved device code gives (§3.4-3.5).

use super::{AccessGrant, GrantError, UserContext, resolve_audiences, resolve_scope};
use crate::device_grant::{DeviceApproval, DeviceGrantRecord};
use crate::{Client, ScopeSet, TokenPolicy, User};
use portcullis_types::GrantType;

/// The parameters of a device authorization request (RFC 8628 §3.1, with RFC 8707 targets).
#[derive(Debug, Clone, Default)]
pub struct DeviceAuthorizationRequest {
    /// `scope`, if sent.
    pub scope: Option<String>,
    /// `resource` values (RFC 8707).
    pub resources: Vec<String>,
    /// `audience` values.
    pub audiences: Vec<String>,
}

/// The scope and audiences a device authorization request of `client` asks for.
///
/// # Errors
/// `unauthorized_client` for a client without the grant; `invalid_scope`, `invalid_target`.
pub fn requested(
    client: &Client,
    request: &DeviceAuthorizationRequest,
    policy: &TokenPolicy,
) -> Result<(ScopeSet, Vec<String>), GrantError> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(GrantError::UnauthorizedClient(
            "client is not allowed to use the device authorization grant".into(),
        ));
    }
    let scope = resolve_scope(client, request.scope.as_deref())?;
    let audiences = resolve_audiences(client, &request.resources, &request.audiences, policy)?;
    Ok((scope, audiences))
}

/// The grant of a device code its user approved, for the client that polled.
///
/// # Errors
/// `invalid_grant` for another client's device code or a user no longer active.
pub fn grant(
    client: &Client,
    record: &DeviceGrantRecord,
    approval: &DeviceApproval,
    user: &User,
    policy: &TokenPolicy,
) -> Result<AccessGrant, GrantError> {
    // RFC 8628 §3.4: the device code was issued to this client.
    if record.client_id != client.id {
        return Err(GrantError::InvalidGrant(
            "device_code was issued to another client".into(),
        ));
    }
    if user.disabled_at.is_some() || user.id != approval.user_id {
        return Err(GrantError::InvalidGrant("user is no longer active".into()));
    }
    Ok(AccessGrant {
        grant_type: GrantType::DeviceCode,
        subject: user.id.clone(),
        client_id: client.id.clone(),
        scope: ScopeSet::parse(&approval.scope).unwrap_or_default(),
        audiences: record.audiences.clone(),
        lifetime_secs: policy.access_token_lifetime(client),
        user: Some(UserContext {
            username: user.username.to_string(),
            roles: user.roles.clone(),
            sid: approval.sid.clone(),
            auth_time: approval.auth_time,
            amr: approval.amr.clone(),
        }),
    })
}
