//! The caller's identity, from a validated access token or from the gateway's headers, and the
//! guards a handler applies to it.

use crate::AuthError;
use http::HeaderMap;
use serde_json::{Map, Value};

/// The prefix of every header the gateway asserts; clients can never send one through it.
pub const IDENTITY_HEADER_PREFIX: &str = "x-portcullis-";

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `iss` (empty when read from gateway headers).
    pub issuer: String,
    /// `sub`: a user id, or the client id for client credentials.
    pub subject: String,
    /// `preferred_username`: the user's name, for tokens with a user.
    pub username: Option<String>,
    /// `client_id`.
    pub client_id: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Roles.
    pub roles: Vec<String>,
    /// Audiences.
    pub audiences: Vec<String>,
    /// `jti`.
    pub token_id: Option<String>,
    /// `sid`: the sign-in session.
    pub session_id: Option<String>,
    /// `exp` (0 when read from gateway headers).
    pub expires_at: i64,
    /// All claims of the token (empty when read from gateway headers).
    pub claims: Map<String, Value>,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The `acr`, `amr` and `auth_time` the gateway asserted in `x-portcullis-acr`,
/// `x-portcullis-amr` (space-separated) and `x-portcullis-auth-time`, as claims.
fn authentication_claims(text: &dyn Fn(&str) -> Option<String>) -> Map<String, Value> {
    let mut claims = Map::new();
    if let Some(acr) = text("x-portcullis-acr").filter(|acr| !acr.is_empty()) {
        claims.insert("acr".into(), acr.into());
    }
    if let Some(amr) = text("x-portcullis-amr") {
        let methods: Vec<Value> = amr.split_whitespace().map(Value::from).collect();
        if !methods.is_empty() {
            claims.insert("amr".into(), methods.into());
        }
    }
    if let Some(auth_time) =
        text("x-portcullis-auth-time").and_then(|time| time.parse::<i64>().ok())
    {
        claims.insert("auth_time".into(), auth_time.into());
    }
    claims
}

fn printable(value: &str) -> bool {
    value.bytes().all(|byte| (0x20..0x7f).contains(&byte))
}

impl Identity {
    /// The thumbprint of the key the token is bound to (`cnf.jkt`, RFC 9449 §6.1), if it is: such
    /// a token is good only with a DPoP proof made with that key.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.claims
            .get("cnf")
            .and_then(|confirmation| confirmation.get("jkt"))
            .and_then(Value::as_str)
    }

    /// Whether the token is bound to a key in any way (`cnf`: DPoP, a certificate, anything).
    pub fn is_sender_constrained(&self) -> bool {
        self.claims.contains_key("cnf")
    }

    /// Reads the claims of a validated token. `None` if `iss`, `sub` or `exp` is missing, or a
    /// value could not travel in a header (control characters; commas inside scopes or roles).
    pub fn from_claims(claims: &Map<String, Value>) -> Option<Self> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let identity = Identity {
            issuer: text("iss")?,
            subject: text("sub")?,
            username: text("preferred_username"),
            client_id: text("client_id").unwrap_or_default(),
            scopes: text("scope")
                .map(|scope| {
                    scope
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            roles: strings(claims.get("roles")),
            audiences: strings(claims.get("aud")),
            token_id: text("jti"),
            session_id: text("sid"),
            expires_at: claims.get("exp").and_then(Value::as_i64)?,
            claims: claims.clone(),
        };
        let well_formed = printable(&identity.subject)
            && identity.username.as_deref().is_none_or(printable)
            && printable(&identity.client_id)
            && identity
                .scopes
                .iter()
                .chain(&identity.roles)
                .all(|value| printable(value) && !value.contains(','));
        well_formed.then_some(identity)
    }

    /// Reads the identity headers set by the gateway. Only for services that nothing but the
    /// gateway can reach: anyone else could set these headers.
    pub fn from_gateway_headers(headers: &HeaderMap) -> Option<Self> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let subject = text("x-portcullis-subject").filter(|subject| !subject.is_empty())?;
        let list = |name: &str, separator: char| {
            text(name)
                .map(|value| {
                    value
                        .split(separator)
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(Identity {
            issuer: String::new(),
            subject,
            username: text("x-portcullis-username").filter(|name| !name.is_empty()),
            client_id: text("x-portcullis-client").unwrap_or_default(),
            scopes: list("x-portcullis-scopes", ' '),
            roles: list("x-portcullis-roles", ','),
            audiences: Vec::new(),
            token_id: None,
            session_id: None,
            expires_at: 0,
            claims: authentication_claims(&text),
        })
    }

    /// `acr`: the authentication context class the user reached.
    pub fn acr(&self) -> Option<&str> {
        self.claims.get("acr").and_then(Value::as_str)
    }

    /// `amr`: how the user authenticated (RFC 8176 values).
    pub fn amr(&self) -> Vec<String> {
        strings(self.claims.get("amr"))
    }

    /// `auth_time`: when the user authenticated.
    pub fn auth_time(&self) -> Option<i64> {
        self.claims.get("auth_time").and_then(Value::as_i64)
    }

    /// Requires the user's authentication to meet `requirement` now (RFC 9470).
    ///
    /// # Errors
    /// [`AuthError::InsufficientUserAuthentication`] (401) with what to ask for.
    pub fn require_authentication(
        &self,
        requirement: &crate::AuthenticationRequirement,
    ) -> Result<(), AuthError> {
        requirement.check(self, crate::unix_now())
    }

    /// Whether the identity has `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }

    /// Whether the identity has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }

    /// Requires `scope`.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] (403, RFC 6750 §3.1).
    pub fn require_scope(&self, scope: &str) -> Result<(), AuthError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope(scope.to_owned()))
        }
    }

    /// Requires at least one of `scopes`.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] naming them all.
    pub fn require_any_scope(&self, scopes: &[&str]) -> Result<(), AuthError> {
        if scopes.iter().any(|scope| self.has_scope(scope)) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope(scopes.join(" ")))
        }
    }

    /// Requires `role`.
    ///
    /// # Errors
    /// [`AuthError::MissingRole`] (403).
    pub fn require_role(&self, role: &str) -> Result<(), AuthError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(AuthError::MissingRole)
        }
    }

    /// Requires at least one of `roles`.
    ///
    /// # Errors
    /// [`AuthError::MissingRole`] (403).
    pub fn require_any_role(&self, roles: &[&str]) -> Result<(), AuthError> {
        if roles.iter().any(|role| self.has_role(role)) {
            Ok(())
        } else {
            Err(AuthError::MissingRole)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    #[test]
    fn claims_headers_and_guards() {
        let claims = json!({"iss":"i","sub":"u1","preferred_username":"ann","client_id":"app","scope":"a b","roles":["admin","user"],"aud":"api","exp":9,"sid":"s"});
        let identity =
            Identity::from_claims(claims.as_object().expect("object")).expect("identity");
        assert_eq!(identity.audiences, ["api"]);
        assert_eq!(identity.username.as_deref(), Some("ann"));
        let hostile_name = json!({"iss":"i","sub":"u1","preferred_username":"a\nb","exp":9});
        assert!(Identity::from_claims(hostile_name.as_object().expect("object")).is_none());
        assert_eq!(identity.require_scope("a"), Ok(()));
        assert_eq!(
            identity.require_scope("c"),
            Err(AuthError::InsufficientScope("c".into()))
        );
        assert_eq!(identity.require_any_scope(&["c", "b"]), Ok(()));
        assert_eq!(identity.require_role("admin"), Ok(()));
        assert_eq!(
            identity.require_any_role(&["root"]),
            Err(AuthError::MissingRole)
        );
        let hostile = json!({"iss":"i","sub":"u\r\nx","exp":9});
        assert!(Identity::from_claims(hostile.as_object().expect("object")).is_none());

        let mut headers = HeaderMap::new();
        assert!(Identity::from_gateway_headers(&headers).is_none());
        headers.insert("x-portcullis-subject", HeaderValue::from_static("u1"));
        headers.insert("x-portcullis-scopes", HeaderValue::from_static("a b"));
        headers.insert("x-portcullis-roles", HeaderValue::from_static("admin,user"));
        headers.insert("x-portcullis-username", HeaderValue::from_static("ann"));
        let from_headers = Identity::from_gateway_headers(&headers).expect("identity");
        assert_eq!(from_headers.username.as_deref(), Some("ann"));
        assert_eq!(
            (from_headers.scopes.len(), from_headers.roles.len()),
            (2, 2)
        );
        assert_eq!((from_headers.acr(), from_headers.auth_time()), (None, None));
        headers.insert("x-portcullis-acr", HeaderValue::from_static("aal2"));
        headers.insert("x-portcullis-amr", HeaderValue::from_static("pwd otp mfa"));
        headers.insert(
            "x-portcullis-auth-time",
            HeaderValue::from_static("1700000000"),
        );
        let strong = Identity::from_gateway_headers(&headers).expect("identity");
        assert_eq!(strong.acr(), Some("aal2"));
        assert_eq!(strong.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(strong.auth_time(), Some(1_700_000_000));
    }
}
