//! Signing in through an upstream identity provider: the link between an upstream identity and a
//! local account, and how the upstream's claims become a local profile (username, address,
//! roles). The link is keyed by the provider and the upstream's subject (OpenID Connect Core
//! §2: `sub` is unique only within its issuer), never by an email address.

mod provider;

pub use provider::{
    DEFAULT_ACCOUNTS, DEFAULT_PROTOCOL, Provider, ProviderError, ProviderProtocol, ProviderSpec,
    RoleRuleSpec,
};

use crate::UnixSeconds;
use serde_json::{Map, Value};

/// An upstream identity linked to a local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedIdentity {
    /// The provider's configured id.
    pub provider: String,
    /// The user's subject at the provider.
    pub subject: String,
    /// The local account.
    pub user_id: String,
    /// The address the provider named when the link was made, shown to the user.
    pub email: Option<String>,
    /// When the link was made.
    pub linked_at: UnixSeconds,
}

/// Which local accounts an upstream identity may sign in to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountPolicy {
    /// A first sign-in creates a local account (just in time).
    #[default]
    Create,
    /// Only accounts already linked (by their owner or through a trusted address) sign in.
    ExistingOnly,
}

/// Which claims name what: the upstream subject, a username, an address and whether the
/// provider verified it. Dotted names reach into objects (`realm_access.roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The subject claim: `sub` for OpenID Connect, e.g. `id` for GitHub.
    pub subject: String,
    /// The claim proposed as the new account's username.
    pub username: String,
    /// The address claim.
    pub email: String,
    /// The claim saying the provider verified the address.
    pub email_verified: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        ClaimMapping {
            subject: "sub".to_owned(),
            username: "preferred_username".to_owned(),
            email: "email".to_owned(),
            email_verified: "email_verified".to_owned(),
        }
    }
}

/// A role granted to accounts whose upstream claim has a value (or, for a list claim such as
/// `groups`, contains it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    /// The claim, dotted for nested objects.
    pub claim: String,
    /// The value it must have or contain.
    pub value: String,
    /// The local role granted.
    pub role: String,
}

impl RoleRule {
    fn matches(&self, claims: &Map<String, Value>) -> bool {
        match claim(claims, &self.claim) {
            Some(Value::Array(values)) => {
                values.iter().any(|value| text(value) == Some(&self.value))
            }
            Some(value) => text(value) == Some(&self.value),
            None => false,
        }
    }
}

/// What an upstream said about the person who signed in there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamProfile {
    /// The subject at the provider.
    pub subject: String,
    /// The proposed username, as the provider spelled it.
    pub username: Option<String>,
    /// The address, if the provider named one.
    pub email: Option<String>,
    /// Whether the provider says it verified the address.
    pub email_verified: bool,
    /// The local roles the role rules grant.
    pub roles: Vec<String>,
}

/// Why the claims make no profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The subject claim is missing, empty, or neither a string nor a number.
    #[error("the provider's answer has no usable `{0}` claim")]
    NoSubject(String),
}

/// Longest subject kept (OpenID Connect Core §2: at most 255 ASCII characters).
const MAX_SUBJECT_LEN: usize = 255;

impl UpstreamProfile {
    /// The profile `claims` describe under `mapping`, with the roles `rules` grant.
    ///
    /// # Errors
    /// [`ProfileError::NoSubject`].
    pub fn from_claims(
        claims: &Map<String, Value>,
        mapping: &ClaimMapping,
        rules: &[RoleRule],
    ) -> Result<UpstreamProfile, ProfileError> {
        let subject = match claim(claims, &mapping.subject) {
            Some(Value::String(subject)) => subject.clone(),
            // GitHub's `id` is a number.
            Some(Value::Number(number)) => number.to_string(),
            _ => String::new(),
        };
        if subject.is_empty() || subject.len() > MAX_SUBJECT_LEN {
            return Err(ProfileError::NoSubject(mapping.subject.clone()));
        }
        let email = claim(claims, &mapping.email)
            .and_then(text)
            .filter(|email| email.contains('@'))
            .map(str::to_owned);
        // Some providers send the boolean as a string.
        let email_verified = match claim(claims, &mapping.email_verified) {
            Some(Value::Bool(verified)) => *verified,
            Some(Value::String(verified)) => verified == "true",
            _ => false,
        };
        let mut roles: Vec<String> = rules
            .iter()
            .filter(|rule| rule.matches(claims))
            .map(|rule| rule.role.clone())
            .collect();
        roles.sort();
        roles.dedup();
        Ok(UpstreamProfile {
            subject,
            username: claim(claims, &mapping.username)
                .and_then(text)
                .map(str::to_owned),
            email,
            email_verified,
            roles,
        })
    }

    /// Usernames to try for a new account, best first: the provider's name (else the address's
    /// local part) made valid, then
    /// that name with the provider's id, then the provider's id with a digest of the subject
    /// (always valid, and the same for the same person).
    pub fn username_candidates(&self, provider: &str) -> Vec<String> {
        let cleaned = self
            .username
            .as_deref()
            .or_else(|| {
                self.email
                    .as_deref()
                    .and_then(|email| email.split('@').next())
            })
            .map(|name| {
                name.chars()
                    // No `@`: a username must not look like someone's address.
                    .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                    .take(48)
                    .collect::<String>()
            })
            .filter(|name| !name.is_empty());
        let digest = portcullis_jose::sha256(format!("{provider}\n{}", self.subject).as_bytes());
        let short: String = digest
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let provider: String = provider.chars().take(40).collect();
        let mut candidates = Vec::new();
        if let Some(name) = cleaned {
            candidates.push(name.clone());
            candidates.push(format!("{name}-{provider}"));
        }
        candidates.push(format!("{provider}-{short}"));
        candidates
    }
}

/// The claim at `path` (dotted for nested objects).
fn claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn text(value: &Value) -> Option<&str> {
    value.as_str().filter(|text| !text.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn rule(claim: &str, value: &str, role: &str) -> RoleRule {
        RoleRule {
            claim: claim.into(),
            value: value.into(),
            role: role.into(),
        }
    }

    #[test]
    fn an_openid_profile_maps_subject_name_address_and_roles() {
        let rules = [
            rule("groups", "admins", "admin"),
            rule("realm_access.roles", "ops", "operator"),
            rule("department", "sales", "sales"),
        ];
        let profile = UpstreamProfile::from_claims(
            &claims(json!({
                "sub": "u-1",
                "preferred_username": "alice",
                "email": "alice@example.com",
                "email_verified": true,
                "groups": ["staff", "admins"],
                "realm_access": {"roles": ["ops"]},
                "department": "engineering",
            })),
            &ClaimMapping::default(),
            &rules,
        )
        .expect("profile");
        assert_eq!(profile.subject, "u-1");
        assert_eq!(profile.username.as_deref(), Some("alice"));
        assert_eq!(profile.email.as_deref(), Some("alice@example.com"));
        assert!(profile.email_verified);
        assert_eq!(profile.roles, ["admin", "operator"]);
    }

    #[test]
    fn a_github_style_profile_has_a_numeric_id_and_no_verified_address() {
        let mapping = ClaimMapping {
            subject: "id".into(),
            username: "login".into(),
            ..ClaimMapping::default()
        };
        let profile = UpstreamProfile::from_claims(
            &claims(json!({"id": 583231, "login": "octocat", "email": "o@example.com"})),
            &mapping,
            &[],
        )
        .expect("profile");
        assert_eq!(profile.subject, "583231");
        assert_eq!(profile.username.as_deref(), Some("octocat"));
        assert!(
            !profile.email_verified,
            "unverified unless the provider says so"
        );
    }

    #[test]
    fn a_missing_or_unusable_subject_is_refused() {
        let mapping = ClaimMapping::default();
        for bad in [
            json!({}),
            json!({"sub": ""}),
            json!({"sub": true}),
            json!({"sub": ["a"]}),
            json!({"sub": "x".repeat(256)}),
        ] {
            assert_eq!(
                UpstreamProfile::from_claims(&claims(bad), &mapping, &[]),
                Err(ProfileError::NoSubject("sub".into()))
            );
        }
    }

    #[test]
    fn verified_as_a_string_counts_and_anything_else_does_not() {
        let mapping = ClaimMapping::default();
        let read = |verified: Value| {
            UpstreamProfile::from_claims(
                &claims(json!({"sub": "s", "email": "a@b", "email_verified": verified})),
                &mapping,
                &[],
            )
            .expect("profile")
            .email_verified
        };
        assert!(read(json!("true")));
        assert!(!read(json!("yes")));
        assert!(!read(json!(1)));
        assert!(!read(json!(false)));
    }

    #[test]
    fn username_candidates_are_valid_and_end_in_a_stable_fallback() {
        let profile = UpstreamProfile {
            subject: "s-1".into(),
            username: Some("Zoë Smith!".into()),
            email: None,
            email_verified: false,
            roles: vec![],
        };
        let candidates = profile.username_candidates("corp");
        assert_eq!(candidates[0], "ZoSmith");
        assert_eq!(candidates[1], "ZoSmith-corp");
        assert!(candidates[2].starts_with("corp-") && candidates[2].len() == 17);
        assert_eq!(candidates, profile.username_candidates("corp"), "stable");
        for candidate in &candidates {
            crate::Username::parse(candidate).expect("valid username");
        }
        let anonymous = UpstreamProfile {
            username: None,
            ..profile
        };
        assert_eq!(anonymous.username_candidates("corp").len(), 1);
    }
}
