//! The refresh token grant (RFC 6749 §6) with rotation (RFC 9700 §4.14).

use super::{AccessGrant, GrantError, UserContext};
use crate::{Client, RefreshTokenFamily, ScopeSet, TokenPolicy, User};
use portcullis_types::GrantType;

/// Checks that `client` may refresh from `family` and returns the (possibly narrowed) scope.
///
/// # Errors
/// `unauthorized_client` without the grant; `invalid_grant` for another client's token;
/// `invalid_scope` when asking for more than the original grant (RFC 6749 §6).
pub fn check(
    client: &Client,
    family: &RefreshTokenFamily,
    requested_scope: Option<&str>,
) -> Result<ScopeSet, GrantError> {
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(GrantError::UnauthorizedClient(
            "client is not allowed to use refresh_token".into(),
        ));
    }
    // RFC 6749 §6: the refresh token must have been issued to the authenticated client.
    if family.client_id != client.id {
        return Err(GrantError::InvalidGrant(
            "refresh token was issued to another client".into(),
        ));
    }
    let original = ScopeSet::parse(&family.scope).unwrap_or_default();
    let Some(requested) = requested_scope else {
        return Ok(original);
    };
    let requested =
        ScopeSet::parse(requested).map_err(|error| GrantError::InvalidScope(error.to_string()))?;
    if !requested.is_subset(&original) {
        return Err(GrantError::InvalidScope(
            "scope exceeds the original grant".into(),
        ));
    }
    Ok(requested)
}

/// The access grant for a rotated family.
///
/// # Errors
/// `invalid_grant` when the user is gone or disabled.
pub fn grant(
    client: &Client,
    family: &RefreshTokenFamily,
    scope: ScopeSet,
    user: Option<&User>,
    policy: &TokenPolicy,
) -> Result<AccessGrant, GrantError> {
    let user = user
        .filter(|user| user.disabled_at.is_none())
        .ok_or_else(|| GrantError::InvalidGrant("user is no longer active".into()))?;
    Ok(AccessGrant {
        grant_type: GrantType::RefreshToken,
        subject: user.id.clone(),
        client_id: client.id.clone(),
        scope,
        audiences: family.audiences.clone(),
        lifetime_secs: policy.access_token_lifetime(client),
        user: Some(UserContext {
            username: user.username.to_string(),
            roles: user.roles.clone(),
            sid: family.sid.clone(),
            auth_time: family.auth_time,
            amr: family.amr.clone(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientKind, ClientRegistration};

    fn client(id: &str, grants: Vec<GrantType>) -> Client {
        ClientRegistration {
            id: id.into(),
            kind: ClientKind::Public,
            grant_types: grants,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            scopes: vec![],
            audiences: vec![],
            access_token_lifetime_secs: None,
            first_party: false,
            post_logout_redirect_uris: vec![],
            id_token_algorithm: None,
            keys: None,
            dpop_bound_access_tokens: false,
            backchannel_logout_uri: None,
            require_mfa: false,
            require_pushed_authorization_requests: false,
            client_name: None,
            request_uris: Vec::new(),
            request_object_signing_alg: None,
        }
        .into_client(None, 3600, 0)
        .expect("client")
    }

    fn family() -> RefreshTokenFamily {
        RefreshTokenFamily {
            id: "f".into(),
            client_id: "app".into(),
            user_id: "u".into(),
            sid: "s".into(),
            scope: "openid offline_access api:read".into(),
            audiences: vec!["api".into()],
            auth_time: 1,
            amr: crate::AuthMethods::password(),
            created_at: 1,
            expires_at: 100,
            revoked_at: None,
            dpop_jkt: None,
        }
    }

    #[test]
    fn scope_may_narrow_but_never_widen() {
        let app = client(
            "app",
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        );
        assert_eq!(
            check(&app, &family(), None).map(|s| s.to_string()),
            Ok("api:read offline_access openid".into())
        );
        assert_eq!(
            check(&app, &family(), Some("api:read")).map(|s| s.to_string()),
            Ok("api:read".into())
        );
        assert_eq!(
            check(&app, &family(), Some("api:write")).map_err(|e| e.code().as_str()),
            Err("invalid_scope")
        );
        let other = client(
            "other",
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        );
        assert_eq!(
            check(&other, &family(), None).map_err(|e| e.code().as_str()),
            Err("invalid_grant")
        );
        let no_refresh = client("app", vec![GrantType::AuthorizationCode]);
        assert_eq!(
            check(&no_refresh, &family(), None).map_err(|e| e.code().as_str()),
            Err("unauthorized_client")
        );
    }
}
