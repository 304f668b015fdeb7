//! Roles and the scopes they grant. A scope that some role lists is *governed*: a token issued to a
//! user carries it only when one of the user's roles lists it. A scope no role lists stays open to
//! every user the client may ask for it (so `openid` and `profile` need no role, and a deployment
//! that defines no roles behaves as if roles granted nothing but were only strings on users).
//!
//! RFC 6749 §3.3 lets the authorization server "fully or partially ignore the scope requested by
//! the client, based on the authorization server policy"; the granted scope is then returned in
//! the token response, which Portcullis always does.

use crate::ScopeSet;
use crate::user::{UserError, validate_role};

/// A role: a name users carry, and the scopes it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The name, as on users (see [`validate_role`]).
    pub name: String,
    /// The governed scopes it grants.
    pub scopes: ScopeSet,
    /// What it is for, for operators.
    pub description: Option<String>,
}

/// The longest description accepted.
pub const MAX_ROLE_DESCRIPTION: usize = 256;

impl Role {
    /// A validated role.
    ///
    /// # Errors
    /// [`RoleError`] naming the field at fault.
    pub fn new(
        name: &str,
        scopes: Vec<String>,
        description: Option<String>,
    ) -> Result<Role, RoleError> {
        validate_role(name).map_err(RoleError::Name)?;
        let scopes = ScopeSet::try_from(scopes).map_err(|error| RoleError::Scope(error.0))?;
        if description.as_ref().is_some_and(|text| {
            text.chars().count() > MAX_ROLE_DESCRIPTION || text.chars().any(char::is_control)
        }) {
            return Err(RoleError::Description);
        }
        Ok(Role {
            name: name.to_owned(),
            scopes,
            description,
        })
    }
}

/// Why a role is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The name breaks the rules of a role.
    #[error(transparent)]
    Name(UserError),
    /// A scope is not an RFC 6749 §3.3 scope token.
    #[error("invalid scope token `{0}`")]
    Scope(String),
    /// The description is too long or holds control characters.
    #[error("description: at most {MAX_ROLE_DESCRIPTION} characters, no control characters")]
    Description,
}

impl RoleError {
    /// The field at fault, as the admin API names it.
    pub fn field(&self) -> &'static str {
        match self {
            RoleError::Name(_) => "name",
            RoleError::Scope(_) => "scopes",
            RoleError::Description => "description",
        }
    }
}

/// `requested` without the governed scopes that none of `user_roles` grants.
pub fn permitted_scope(roles: &[Role], user_roles: &[String], requested: &ScopeSet) -> ScopeSet {
    requested.filtered(|scope| {
        let mut governing = roles
            .iter()
            .filter(|role| role.scopes.contains(scope))
            .peekable();
        governing.peek().is_none() || governing.any(|role| user_roles.contains(&role.name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(name: &str, scopes: &[&str]) -> Role {
        Role::new(name, scopes.iter().map(|s| (*s).to_owned()).collect(), None).expect("role")
    }

    fn scope(text: &str) -> ScopeSet {
        ScopeSet::parse(text).expect("scope")
    }

    #[test]
    fn governed_scopes_need_a_role_that_grants_them() {
        let roles = [
            role("admin", &["portcullis:admin", "products:write"]),
            role("user", &["products:read"]),
        ];
        let requested = scope("openid products:read products:write portcullis:admin");
        let user = ["user".to_owned()];
        assert_eq!(
            permitted_scope(&roles, &user, &requested).to_string(),
            "openid products:read",
            "ungoverned openid stays; admin scopes go"
        );
        let both = ["admin".to_owned(), "user".to_owned()];
        assert_eq!(permitted_scope(&roles, &both, &requested), requested);
        assert_eq!(
            permitted_scope(&roles, &[], &requested).to_string(),
            "openid",
            "a user without roles keeps only ungoverned scopes"
        );
    }

    #[test]
    fn without_roles_nothing_is_governed() {
        let requested = scope("openid portcullis:admin");
        assert_eq!(permitted_scope(&[], &[], &requested), requested);
    }

    #[test]
    fn invalid_roles_name_the_field() {
        let bad_name = Role::new("Admin", vec![], None).expect_err("uppercase");
        assert_eq!(bad_name.field(), "name");
        let bad_scope = Role::new("admin", vec!["a\"b".into()], None).expect_err("quote");
        assert_eq!(bad_scope.field(), "scopes");
        let long = Role::new("admin", vec![], Some("x".repeat(257))).expect_err("long");
        assert_eq!(long.field(), "description");
        let control = Role::new("admin", vec![], Some("a\nb".into())).expect_err("newline");
        assert_eq!(control.field(), "description");
    }
}
