//! Step-up authentication (RFC 9470): a route can require how the user authenticated, by the
//! token's `acr` (one of given values), its `amr` (all given methods) and the age of its
//! `auth_time`. A token that falls short gets 401 `insufficient_user_authentication` with the
//! `acr_values` and `max_age` to ask the authorization server for, so the client knows how to
//! get a better token.

use crate::{AuthError, Identity};

/// What a route requires of the user's authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthenticationRequirement {
    /// The token's `acr` must be one of these (none: any).
    pub acr_values: Vec<String>,
    /// The token's `amr` must hold every one of these (e.g. `mfa`).
    pub amr: Vec<String>,
    /// The user must have authenticated at most this many seconds ago (`auth_time`).
    pub max_age_secs: Option<i64>,
}

impl AuthenticationRequirement {
    /// Whether it requires anything.
    pub fn is_empty(&self) -> bool {
        self.acr_values.is_empty() && self.amr.is_empty() && self.max_age_secs.is_none()
    }

    /// Checks `identity` at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`AuthError::InsufficientUserAuthentication`] naming what to ask for.
    pub fn check(&self, identity: &Identity, now: i64) -> Result<(), AuthError> {
        let acr_ok = self.acr_values.is_empty()
            || identity
                .acr()
                .is_some_and(|acr| self.acr_values.iter().any(|wanted| wanted == acr));
        // Read only when required: most routes require nothing, and this runs per request.
        let amr_ok = self.amr.is_empty() || {
            let methods = identity.amr();
            self.amr
                .iter()
                .all(|wanted| methods.iter().any(|method| method == wanted))
        };
        // A token without `auth_time` cannot show it is recent enough.
        let age_ok = self.max_age_secs.is_none_or(|max_age| {
            identity
                .auth_time()
                .is_some_and(|auth_time| now - auth_time <= max_age)
        });
        if acr_ok && amr_ok && age_ok {
            Ok(())
        } else {
            Err(AuthError::InsufficientUserAuthentication {
                acr_values: (!self.acr_values.is_empty()).then(|| self.acr_values.join(" ")),
                max_age: self.max_age_secs,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn identity(claims: serde_json::Value) -> Identity {
        let mut all = json!({"iss": "i", "sub": "u", "exp": 9});
        if let (Some(all), Some(extra)) = (all.as_object_mut(), claims.as_object()) {
            all.extend(extra.clone());
        }
        Identity::from_claims(all.as_object().expect("object")).expect("identity")
    }

    #[test]
    fn acr_amr_and_age_are_each_checked() {
        let strong =
            identity(json!({"acr": "aal2", "amr": ["pwd", "otp", "mfa"], "auth_time": 100}));
        let weak = identity(json!({"acr": "aal1", "amr": ["pwd"], "auth_time": 100}));
        let none = identity(json!({}));
        let require_mfa = AuthenticationRequirement {
            acr_values: vec!["aal2".into()],
            amr: vec!["mfa".into()],
            max_age_secs: None,
        };
        assert_eq!(require_mfa.check(&strong, 200), Ok(()));
        let challenge = AuthError::InsufficientUserAuthentication {
            acr_values: Some("aal2".into()),
            max_age: None,
        };
        assert_eq!(require_mfa.check(&weak, 200), Err(challenge.clone()));
        assert_eq!(require_mfa.check(&none, 200), Err(challenge));
        let recent = AuthenticationRequirement {
            max_age_secs: Some(300),
            ..AuthenticationRequirement::default()
        };
        assert_eq!(recent.check(&weak, 400), Ok(()));
        assert_eq!(
            recent.check(&weak, 401),
            Err(AuthError::InsufficientUserAuthentication {
                acr_values: None,
                max_age: Some(300),
            })
        );
        assert!(recent.check(&none, 0).is_err(), "no auth_time: not recent");
        assert!(AuthenticationRequirement::default().is_empty());
        assert_eq!(AuthenticationRequirement::default().check(&none, 0), Ok(()));
    }

    #[test]
    fn the_challenge_follows_rfc_9470() {
        let error = AuthError::InsufficientUserAuthentication {
            acr_values: Some("urn:a urn:b".into()),
            max_age: Some(60),
        };
        assert_eq!(error.status(), 401);
        assert_eq!(error.code(), "insufficient_user_authentication");
        assert_eq!(
            error.challenge().as_deref(),
            Some(
                "Bearer realm=\"portcullis\", error=\"insufficient_user_authentication\", \
                 error_description=\"a stronger or more recent sign-in is required\", \
                 acr_values=\"urn:a urn:b\", max_age=\"60\""
            )
        );
    }
}
