//! OAuth 2.0 grant types by their registered names (RFC 6749 §4, §6).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A grant type a client may be allowed to use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1: Authorization Code (with PKCE, RFC 7636).
    AuthorizationCode,
    /// RFC 6749 §4.4: Client Credentials.
    ClientCredentials,
    /// RFC 6749 §6: Refresh Token.
    RefreshToken,
    /// RFC 8693: Token Exchange.
    TokenExchange,
    /// RFC 8628: Device Authorization Grant.
    DeviceCode,
}

impl GrantType {
    /// Every grant type Portcullis knows, in a stable order.
    pub const ALL: [GrantType; 5] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
        GrantType::TokenExchange,
        GrantType::DeviceCode,
    ];

    /// The registered name, as sent in `grant_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a grant type Portcullis knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownGrantType(pub String);

impl fmt::Display for UnknownGrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown grant type `{}`", self.0)
    }
}

impl std::error::Error for UnknownGrantType {}

impl FromStr for GrantType {
    type Err = UnknownGrantType;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        GrantType::ALL
            .into_iter()
            .find(|grant| grant.as_str() == name)
            .ok_or_else(|| UnknownGrantType(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for grant in GrantType::ALL {
            assert_eq!(grant.as_str().parse::<GrantType>(), Ok(grant));
        }
        assert!("password".parse::<GrantType>().is_err());
        assert!("Client_Credentials".parse::<GrantType>().is_err());
    }
}
