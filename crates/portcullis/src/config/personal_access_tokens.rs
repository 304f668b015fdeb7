//! `[personal_access_tokens]`: tokens users make on their account page (and administrators for
//! service accounts), learned about by introspection.

use anyhow::bail;
use portcullis_core::ScopeSet;
use portcullis_service::personal_access_tokens::TokenPolicy;
use serde::Deserialize;

/// `[personal_access_tokens]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PersonalAccessTokensConfig {
    /// Users may make tokens on `/account`.
    pub enabled: bool,
    /// The scopes a user's token may carry (within what the user's roles allow).
    pub scopes: Vec<String>,
    /// The longest lifetime, in days.
    pub max_lifetime_days: i64,
    /// The audiences every token carries: the resource servers (gateways) that accept them.
    pub audiences: Vec<String>,
}

impl Default for PersonalAccessTokensConfig {
    fn default() -> Self {
        PersonalAccessTokensConfig {
            enabled: false,
            scopes: Vec::new(),
            max_lifetime_days: 90,
            audiences: Vec::new(),
        }
    }
}

impl PersonalAccessTokensConfig {
    /// The policy this section describes.
    ///
    /// # Errors
    /// A scope that is not one, or one of the server's own (`portcullis:*`), a lifetime below a
    /// day or above ten years, or tokens enabled without an audience.
    pub fn policy(&self) -> anyhow::Result<TokenPolicy> {
        let Ok(user_scopes) = ScopeSet::try_from(self.scopes.clone()) else {
            bail!("personal_access_tokens.scopes: not a list of scope tokens");
        };
        if let Some(own) = user_scopes
            .iter()
            .find(|scope| scope.starts_with("portcullis:"))
        {
            bail!("personal_access_tokens.scopes: `{own}` is the server's own; not for tokens");
        }
        if !(1..=3650).contains(&self.max_lifetime_days) {
            bail!("personal_access_tokens.max_lifetime_days must be 1 to 3650");
        }
        if self.enabled && self.audiences.is_empty() {
            bail!("personal_access_tokens.audiences: name the resource servers that accept them");
        }
        Ok(TokenPolicy {
            enabled: self.enabled,
            user_scopes,
            max_lifetime_days: self.max_lifetime_days,
            audiences: self.audiences.clone(),
        })
    }
}
