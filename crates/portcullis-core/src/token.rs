//! Access tokens as JWTs per RFC 9068: the claim set and the lifetime policy.

use crate::grant::AccessGrant;
use crate::{Client, UnixSeconds};
use serde::{Serialize, Serializer};

/// The audience of tokens for a client registered without one (Okta's convention).
pub const DEFAULT_AUDIENCE: &str = "api://default";

/// Server-wide token settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// `iss` of every token.
    pub issuer: String,
    /// The audience a client registered without audiences may ask for, and gets by default: so
    /// a standard OAuth client gets a token that a resource server can accept (RFC 9068 §2.2
    /// requires `aud`).
    pub default_audience: String,
    /// Lifetime of an access token when the client sets none.
    pub default_access_token_lifetime_secs: i64,
    /// Ceiling for any access token lifetime; also how long a retired key stays published.
    pub max_access_token_lifetime_secs: i64,
}

impl TokenPolicy {
    /// The client's own lifetime if set, else the default; never above the ceiling.
    pub fn access_token_lifetime(&self, client: &Client) -> i64 {
        client
            .access_token_lifetime_secs
            .unwrap_or(self.default_access_token_lifetime_secs)
            .min(self.max_access_token_lifetime_secs)
    }

    /// The audiences `client` may ask for: its registered ones, or else the default audience.
    pub fn allowed_audiences<'a>(&'a self, client: &'a Client) -> &'a [String] {
        if client.audiences.is_empty() {
            std::slice::from_ref(&self.default_audience)
        } else {
            &client.audiences
        }
    }
}

/// The claims of a JWT access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id, or the client id for client credentials.
    pub sub: String,
    /// Audiences; a single audience is written as a string.
    #[serde(serialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry.
    pub exp: UnixSeconds,
    /// Issued at.
    pub iat: UnixSeconds,
    /// Unique token id, for revocation and audit.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scope, space-delimited; absent when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The user's name (OpenID Connect Core §5.1; RFC 9068 §2.2.3.1 allows identity claims).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// The user's roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The session the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// When the user authenticated (RFC 9068 §2.2.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<UnixSeconds>,
    /// The authentication context class the user reached (RFC 9068 §2.2.1, RFC 9470 §3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<&'static str>,
    /// How the user authenticated (RFC 9068 §2.2.1 allows `amr`; RFC 9470 §3 checks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<&'static str>>,
    /// The key the token is bound to (RFC 9449 §6.1): good only with a DPoP proof of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Who acts for the subject, in a token from a token exchange (RFC 8693 §4.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<crate::grant::token_exchange::Actor>,
}

/// The confirmation claim of a sender-constrained token (RFC 7800 §3.1, RFC 9449 §6.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    /// The JWK SHA-256 thumbprint of the DPoP key.
    pub jkt: String,
}

impl AccessTokenClaims {
    /// The claims for `grant`, issued at `now` with token id `jti`.
    pub fn new(grant: &AccessGrant, policy: &TokenPolicy, now: UnixSeconds, jti: String) -> Self {
        AccessTokenClaims {
            iss: policy.issuer.clone(),
            sub: grant.subject.clone(),
            aud: grant.audiences.clone(),
            exp: now + grant.lifetime_secs,
            iat: now,
            jti,
            client_id: grant.client_id.clone(),
            scope: grant.scope.to_string(),
            preferred_username: grant.user.as_ref().map(|user| user.username.clone()),
            roles: grant.user.as_ref().map(|user| user.roles.clone()),
            sid: grant.user.as_ref().map(|user| user.sid.clone()),
            auth_time: grant.user.as_ref().map(|user| user.auth_time),
            acr: grant.user.as_ref().map(|user| user.amr.acr().as_str()),
            amr: grant.user.as_ref().map(|user| user.amr.values()),
            cnf: None,
            act: None,
        }
    }
}

fn one_or_many<S: Serializer>(values: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    match values {
        [single] => serializer.serialize_str(single),
        many => many.serialize(serializer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScopeSet;
    use portcullis_types::GrantType;
    use serde_json::json;

    #[test]
    fn claims_follow_rfc_9068() {
        let policy = TokenPolicy {
            issuer: "https://auth.example".into(),
            default_audience: DEFAULT_AUDIENCE.into(),
            default_access_token_lifetime_secs: 900,
            max_access_token_lifetime_secs: 3600,
        };
        let mut grant = AccessGrant {
            grant_type: GrantType::ClientCredentials,
            subject: "svc".into(),
            client_id: "svc".into(),
            scope: ScopeSet::parse("b a").expect("scope"),
            audiences: vec!["api".into()],
            lifetime_secs: 900,
            user: None,
        };
        let claims = AccessTokenClaims::new(&grant, &policy, 1000, "j1".into());
        assert_eq!(
            serde_json::to_value(&claims).ok(),
            Some(
                json!({"iss":"https://auth.example","sub":"svc","aud":"api","exp":1900,"iat":1000,
                        "jti":"j1","client_id":"svc","scope":"a b"})
            )
        );
        grant.audiences.push("api2".into());
        grant.scope = ScopeSet::default();
        let value = serde_json::to_value(AccessTokenClaims::new(&grant, &policy, 1000, "j".into()));
        let value = value.expect("json");
        assert_eq!(value["aud"], json!(["api", "api2"]));
        assert!(value.get("scope").is_none());
    }
}
