//! Route policies: who may pass, decided from the identity alone.

use crate::identity::{AssertedIdentity, Identity};
use portcullis_sdk::AuthenticationRequirement;

/// A route's access rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone; no token needed (a token that is sent is not checked).
    Public,
    /// A valid token meeting these requirements.
    Authenticated(Box<Requirements>),
}

/// What an authenticated route requires beyond a valid token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// All of these scopes.
    pub scopes_all: Vec<String>,
    /// One of these scopes.
    pub scopes_any: Vec<String>,
    /// One of these roles.
    pub roles_any: Vec<String>,
    /// All of these roles.
    pub roles_all: Vec<String>,
    /// This audience too, beside the issuer's.
    pub audience: Option<String>,
    /// The route's resource identifier (RFC 8707): the audience it requires instead of the
    /// issuer's.
    pub resource: Option<String>,
    /// Only DPoP-bound tokens, with their proof (RFC 9449).
    pub dpop: bool,
    /// How the user must have authenticated (RFC 9470 step-up).
    pub authentication: AuthenticationRequirement,
    /// Only tokens of these issuers; empty: any configured issuer.
    pub issuers: Vec<String>,
}

/// Why an authenticated identity was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Missing scope: RFC 6750 `insufficient_scope`, with the scope needed.
    Scope(String),
    /// Missing role.
    Role,
    /// The token is for another audience (RFC 6750 `invalid_token`).
    Audience,
    /// The token's issuer is not one the route accepts (RFC 6750 `invalid_token`).
    Issuer,
    /// The user did not authenticate strongly or recently enough (RFC 9470
    /// `insufficient_user_authentication`): what to ask the authorization server for.
    Authentication {
        /// `acr_values` to ask for.
        acr_values: Option<String>,
        /// `max_age` to ask for.
        max_age: Option<i64>,
    },
}

impl Requirements {
    /// RFC 9068 §4: whether the token is meant for this route: its resource identifier, or
    /// else the issuer's audience (and the route's `audience`, when it names one).
    ///
    /// # Errors
    /// [`Denial::Issuer`], [`Denial::Audience`].
    pub fn check_audience(&self, asserted: &AssertedIdentity) -> Result<(), Denial> {
        if !self.issuers.is_empty() && !self.issuers.contains(&asserted.identity.issuer) {
            return Err(Denial::Issuer);
        }
        let audiences = &asserted.identity.audiences;
        let meant_for_route = match &self.resource {
            Some(resource) => audiences.contains(resource),
            None => {
                asserted.carries_issuer_audience
                    && self
                        .audience
                        .as_ref()
                        .is_none_or(|audience| audiences.contains(audience))
            }
        };
        if meant_for_route {
            Ok(())
        } else {
            Err(Denial::Audience)
        }
    }

    /// Checks `asserted` against the requirements at `now` (Unix seconds).
    ///
    /// # Errors
    /// The first unmet requirement.
    pub fn check(&self, asserted: &AssertedIdentity, now: i64) -> Result<(), Denial> {
        self.check_audience(asserted)?;
        self.check_grants(&asserted.identity, now)
    }

    /// Checks everything but the audience (the pipeline checks that first, before DPoP):
    /// scopes, roles and how the user authenticated.
    ///
    /// # Errors
    /// The first unmet requirement.
    pub fn check_grants(&self, identity: &Identity, now: i64) -> Result<(), Denial> {
        let has_scope = |scope: &String| identity.scopes.contains(scope);
        if !self.scopes_all.iter().all(has_scope) {
            return Err(Denial::Scope(self.scopes_all.join(" ")));
        }
        if !self.scopes_any.is_empty() && !self.scopes_any.iter().any(has_scope) {
            return Err(Denial::Scope(self.scopes_any.join(" ")));
        }
        let has_role = |role: &String| identity.roles.contains(role);
        if !self.roles_all.iter().all(has_role) {
            return Err(Denial::Role);
        }
        if !self.roles_any.is_empty() && !self.roles_any.iter().any(has_role) {
            return Err(Denial::Role);
        }
        match self.authentication.check(identity, now) {
            Err(portcullis_sdk::AuthError::InsufficientUserAuthentication {
                acr_values,
                max_age,
            }) => Err(Denial::Authentication {
                acr_values,
                max_age,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(scopes: &[&str], roles: &[&str]) -> AssertedIdentity {
        let mut asserted = AssertedIdentity::new(Identity {
            issuer: "i".into(),
            subject: "s".into(),
            username: None,
            client_id: "c".into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            roles: roles.iter().map(|s| (*s).to_owned()).collect(),
            audiences: vec!["api".into()],
            token_id: None,
            session_id: None,
            expires_at: 0,
            claims: serde_json::Map::new(),
        });
        asserted.carries_issuer_audience = true;
        asserted
    }

    fn owned(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_requirement() {
        let who = identity(&["read", "write"], &["user"]);
        assert_eq!(Requirements::default().check(&who, 0), Ok(()));
        assert_eq!(
            Requirements {
                scopes_all: owned(&["read", "write"]),
                ..Default::default()
            }
            .check(&who, 0),
            Ok(())
        );
        assert_eq!(
            Requirements {
                scopes_all: owned(&["read", "admin"]),
                ..Default::default()
            }
            .check(&who, 0),
            Err(Denial::Scope("read admin".into()))
        );
        assert_eq!(
            Requirements {
                scopes_any: owned(&["admin", "write"]),
                ..Default::default()
            }
            .check(&who, 0),
            Ok(())
        );
        assert_eq!(
            Requirements {
                scopes_any: owned(&["admin"]),
                ..Default::default()
            }
            .check(&who, 0),
            Err(Denial::Scope("admin".into()))
        );
        assert_eq!(
            Requirements {
                roles_any: owned(&["admin", "user"]),
                ..Default::default()
            }
            .check(&who, 0),
            Ok(())
        );
        assert_eq!(
            Requirements {
                roles_all: owned(&["admin", "user"]),
                ..Default::default()
            }
            .check(&who, 0),
            Err(Denial::Role)
        );
        assert_eq!(
            Requirements {
                audience: Some("other".into()),
                ..Default::default()
            }
            .check(&who, 0),
            Err(Denial::Audience)
        );
        let also_api = Requirements {
            audience: Some("api".into()),
            ..Default::default()
        };
        assert_eq!(also_api.check(&who, 0), Ok(()));
        // Without the issuer's audience only a route naming the token's resource passes.
        let mut elsewhere = identity(&["read"], &[]);
        elsewhere.carries_issuer_audience = false;
        assert_eq!(
            Requirements::default().check(&elsewhere, 0),
            Err(Denial::Audience)
        );
        assert_eq!(also_api.check(&elsewhere, 0), Err(Denial::Audience));
        let resource = Requirements {
            resource: Some("api".into()),
            ..Default::default()
        };
        assert_eq!(resource.check(&elsewhere, 0), Ok(()));
        let step_up = Requirements {
            authentication: AuthenticationRequirement {
                amr: owned(&["mfa"]),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            step_up.check(&who, 0),
            Err(Denial::Authentication {
                acr_values: None,
                max_age: None
            })
        );
    }
}
