//! Wire types of Portcullis.
//!
//! Everything that crosses the network in a standard's own format lives here, so the auth server,
//! the gateway, the SDK and the CLI agree on one definition: OAuth 2.0 token responses and error codes
//! (RFC 6749), authorization server metadata (RFC 8414 / OpenID Connect Discovery) and JSON Web Keys
//! (RFC 7517).
#![warn(missing_docs)]

pub mod discovery;
pub mod grant_type;
pub mod jwk;
pub mod oauth;

pub use discovery::ProviderMetadata;
pub use grant_type::GrantType;
pub use jwk::{Jwk, JwkSet};
pub use oauth::{OAuthErrorBody, OAuthErrorCode, TokenResponse};
