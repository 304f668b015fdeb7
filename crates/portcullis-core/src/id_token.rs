//! OpenID Connect id tokens (Core §2, §3.1.3.6) and the profile claims shared with userinfo (§5.4).

use crate::{ScopeSet, UnixSeconds, User};
use serde::Serialize;
use serde_json::{Map, Value};

/// The claims of an id token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user id.
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry.
    pub exp: UnixSeconds,
    /// Issued at.
    pub iat: UnixSeconds,
    /// When the user authenticated.
    pub auth_time: UnixSeconds,
    /// The authentication context class reached (Core §2).
    pub acr: &'static str,
    /// How the user authenticated (Core §2, RFC 8176).
    pub amr: Vec<&'static str>,
    /// The authorization request's nonce, unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Hash of the access token issued with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Session id, for logout.
    pub sid: String,
    /// Profile and email claims allowed by the scope.
    #[serde(flatten)]
    pub profile: Map<String, Value>,
}

/// The user claims the scope allows: `profile` gives `preferred_username` and `name`, `email`
/// gives `email` and `email_verified` (OpenID Connect Core §5.1: true only when the address was
/// verified, by a link its owner followed or by an administrator).
pub fn profile_claims(user: &User, scope: &ScopeSet) -> Map<String, Value> {
    let mut claims = Map::new();
    if scope.contains("profile") {
        claims.insert("preferred_username".into(), user.username.as_str().into());
        claims.insert("name".into(), user.username.as_str().into());
    }
    if scope.contains("email")
        && let Some(email) = &user.email
    {
        claims.insert("email".into(), email.as_str().into());
        claims.insert("email_verified".into(), user.email_verified().into());
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewUser, Username};

    #[test]
    fn claims_follow_the_scope() {
        let user = NewUser {
            username: Username::parse("Ann").expect("name"),
            roles: vec![],
            email: Some("ann@example.com".into()),
            password_hash: String::new(),
        }
        .into_user(0);
        let none = profile_claims(&user, &ScopeSet::parse("openid").expect("scope"));
        assert!(none.is_empty());
        let all = profile_claims(
            &user,
            &ScopeSet::parse("openid profile email").expect("scope"),
        );
        assert_eq!(all["preferred_username"], "Ann");
        assert_eq!(all["email"], "ann@example.com");
        assert_eq!(all["email_verified"], false);
        let verified = User {
            email_verified_at: Some(5),
            ..user
        };
        let claims = profile_claims(&verified, &ScopeSet::parse("email").expect("scope"));
        assert_eq!(claims["email_verified"], true);
    }
}
