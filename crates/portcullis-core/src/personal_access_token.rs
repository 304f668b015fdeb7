//! Personal access tokens and API keys: long-lived bearer secrets a user makes for a script or a
//! CI job (or an administrator for a service account), each with a name, scopes no wider than its
//! owner's, an expiry and optionally the networks it may be used from. The token is shown once
//! and stored as its SHA-256 only; it starts with [`TOKEN_PREFIX`], so secret scanners and the
//! gateway recognise it. Resource servers learn about one by introspection (RFC 7662).

use crate::client_address::TrustedProxies;
use crate::secret::{SecretHash, generate_secret};
use crate::{ScopeSet, UnixSeconds};
use portcullis_jose::JoseError;

/// What every personal access token starts with.
pub const TOKEN_PREFIX: &str = "pcl_pat_";
/// The member of an introspection answer (or claim) listing the networks a token may be used
/// from. The gateway enforces it; another resource server must read it itself.
pub const NETWORKS_MEMBER: &str = "portcullis_networks";
/// Random bytes in a token: 256 bits.
const TOKEN_BYTES: usize = 32;
/// Random bytes in a token's id (what lists, audit events and revocations name).
const ID_BYTES: usize = 12;
/// The longest name.
pub const MAX_NAME_CHARS: usize = 100;
/// Networks a token may list at most.
pub const MAX_NETWORKS: usize = 32;

/// Whose token it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOwner {
    /// A user (its id).
    User(String),
    /// A service account: a confidential client (its id).
    Client(String),
}

impl TokenOwner {
    /// The kind as stored (`user`, `client`).
    pub fn kind(&self) -> &'static str {
        match self {
            TokenOwner::User(_) => "user",
            TokenOwner::Client(_) => "client",
        }
    }

    /// The owner's id.
    pub fn id(&self) -> &str {
        match self {
            TokenOwner::User(id) | TokenOwner::Client(id) => id,
        }
    }

    /// An owner as stored; `None` for an unknown kind.
    pub fn from_stored(kind: &str, id: String) -> Option<Self> {
        match kind {
            "user" => Some(TokenOwner::User(id)),
            "client" => Some(TokenOwner::Client(id)),
            _ => None,
        }
    }
}

/// A stored personal access token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    /// Its id (random, not secret).
    pub id: String,
    /// Whose it is.
    pub owner: TokenOwner,
    /// What the owner calls it.
    pub name: String,
    /// What it may do.
    pub scope: ScopeSet,
    /// The networks it may be used from (addresses and CIDR ranges); empty: any.
    pub networks: Vec<String>,
    /// The SHA-256 of the token.
    pub hash: SecretHash,
    /// When it was made.
    pub created_at: UnixSeconds,
    /// When it stops working.
    pub expires_at: UnixSeconds,
    /// When a resource server last asked about it.
    pub last_used_at: Option<UnixSeconds>,
}

/// What a new token asks for, before it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Its name.
    pub name: String,
    /// Its scopes.
    pub scope: ScopeSet,
    /// Days it lives.
    pub lifetime_days: i64,
    /// The networks it may be used from.
    pub networks: Vec<String>,
}

/// Why a token cannot be made as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRequestError {
    /// An empty, overlong or control-character name.
    #[error("the name must be 1 to {MAX_NAME_CHARS} printable characters")]
    Name,
    /// A lifetime below a day or beyond the configured maximum.
    #[error("the lifetime must be 1 to {0} days")]
    Lifetime(i64),
    /// No scope at all.
    #[error("a token needs at least one scope")]
    NoScope,
    /// A scope the owner may not give it.
    #[error("the scope `{0}` is not available to this token's owner")]
    Scope(String),
    /// A network that is neither an address nor a CIDR range, or too many.
    #[error("networks must be at most {MAX_NETWORKS} IP addresses or CIDR ranges: {0}")]
    Networks(String),
}

impl TokenRequest {
    /// Checks the request against the owner's `allowed` scopes and the longest lifetime.
    ///
    /// # Errors
    /// [`TokenRequestError`] naming the first fault.
    pub fn check(
        &self,
        allowed: &ScopeSet,
        max_lifetime_days: i64,
    ) -> Result<(), TokenRequestError> {
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(TokenRequestError::Name);
        }
        if !(1..=max_lifetime_days).contains(&self.lifetime_days) {
            return Err(TokenRequestError::Lifetime(max_lifetime_days));
        }
        if self.scope.is_empty() {
            return Err(TokenRequestError::NoScope);
        }
        if let Some(extra) = self.scope.iter().find(|scope| !allowed.contains(scope)) {
            return Err(TokenRequestError::Scope(extra.to_owned()));
        }
        if self.networks.len() > MAX_NETWORKS {
            return Err(TokenRequestError::Networks("too many".into()));
        }
        TrustedProxies::parse(&self.networks).map_err(TokenRequestError::Networks)?;
        Ok(())
    }

    /// Makes the token for `owner` at `now`: the stored record and the token, shown once.
    ///
    /// # Errors
    /// The system random generator is unavailable.
    pub fn issue(
        self,
        owner: TokenOwner,
        now: UnixSeconds,
    ) -> Result<(PersonalAccessToken, String), JoseError> {
        let token = format!("{TOKEN_PREFIX}{}", generate_secret(TOKEN_BYTES)?);
        let record = PersonalAccessToken {
            id: format!("pat_{}", generate_secret(ID_BYTES)?),
            owner,
            name: self.name.trim().to_owned(),
            scope: self.scope,
            networks: self
                .networks
                .iter()
                .map(|net| net.trim().to_owned())
                .collect(),
            hash: SecretHash::of(&token),
            created_at: now,
            expires_at: now.saturating_add(self.lifetime_days.saturating_mul(86_400)),
            last_used_at: None,
        };
        Ok((record, token))
    }
}

/// Whether `token` looks like a personal access token (its prefix, then base64url).
pub fn is_personal_access_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(scope: &str) -> TokenRequest {
        TokenRequest {
            name: " ci deploy ".into(),
            scope: ScopeSet::parse(scope).expect("scope"),
            lifetime_days: 30,
            networks: vec!["10.0.0.0/8".into(), "192.0.2.7".into()],
        }
    }

    #[test]
    fn tokens_are_prefixed_random_and_stored_hashed() {
        let allowed = ScopeSet::parse("products:read products:write").expect("scope");
        request("products:read")
            .check(&allowed, 365)
            .expect("valid");
        let (record, token) = request("products:read")
            .issue(TokenOwner::User("u1".into()), 1_000)
            .expect("issued");
        assert!(is_personal_access_token(&token), "{token}");
        assert!(record.hash.matches(&token));
        assert_eq!(record.name, "ci deploy");
        assert_eq!(record.expires_at, 1_000 + 30 * 86_400);
        assert!(record.id.starts_with("pat_"));
        let (_, other) = request("products:read")
            .issue(TokenOwner::User("u1".into()), 1_000)
            .expect("issued");
        assert_ne!(token, other);
        assert!(!is_personal_access_token("pcl_pat_short"));
        assert!(!is_personal_access_token(
            &token.replace("pcl_pat_", "pcl_xyz_")
        ));
    }

    #[test]
    fn requests_stay_within_the_owner_and_the_rules() {
        let allowed = ScopeSet::parse("products:read").expect("scope");
        let refused = |request: TokenRequest| request.check(&allowed, 90).err();
        assert_eq!(
            refused(request("products:write")),
            Some(TokenRequestError::Scope("products:write".into()))
        );
        assert_eq!(
            refused(TokenRequest {
                scope: ScopeSet::default(),
                ..request("x")
            }),
            Some(TokenRequestError::NoScope)
        );
        for name in ["", "   ", "a\u{7}b", &"n".repeat(MAX_NAME_CHARS + 1)] {
            assert_eq!(
                refused(TokenRequest {
                    name: name.into(),
                    ..request("products:read")
                }),
                Some(TokenRequestError::Name)
            );
        }
        for days in [0, 91, -1] {
            assert_eq!(
                refused(TokenRequest {
                    lifetime_days: days,
                    ..request("products:read")
                }),
                Some(TokenRequestError::Lifetime(90))
            );
        }
        assert!(matches!(
            refused(TokenRequest {
                networks: vec!["10.0.0.0/33".into()],
                ..request("products:read")
            }),
            Some(TokenRequestError::Networks(_))
        ));
    }
}
