//! A session's tokens at rest: sealed (AES-256-GCM) with a key derived from the browser's
//! cookie, which the store never holds. Reading the store (a Redis dump, a memory image) gives
//! no token; only a request carrying the cookie opens them.

use crate::error::GatewayError;
use portcullis_jose::{KeyEncryptionKey, base64url, sha256};
use portcullis_service::ports::SessionRecord;
use serde::{Deserialize, Serialize};

/// Binds a sealed value to its purpose.
const CONTEXT: &str = "portcullis-gateway-session-tokens";

/// The tokens the gateway holds for a browser. Its `Debug` shows none of them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SessionTokens {
    /// Forwarded upstream.
    pub access_token: String,
    /// Used before the access token expires.
    pub refresh_token: Option<String>,
    /// Sent back as `id_token_hint` at logout.
    pub id_token: Option<String>,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SessionTokens")
            .finish_non_exhaustive()
    }
}

/// The sealing key of the session of `cookie`: a digest under its own label, so it is never the
/// store key (the plain digest of the cookie).
fn key_of(cookie: &str) -> Result<KeyEncryptionKey, GatewayError> {
    let derived = sha256(format!("{CONTEXT}\n{cookie}").as_bytes());
    KeyEncryptionKey::from_base64url(&base64url::encode(derived))
        .map_err(|_| GatewayError::SessionsUnavailable)
}

impl SessionTokens {
    /// The tokens, sealed for the session of `cookie`.
    pub(super) fn seal(&self, cookie: &str) -> Result<String, GatewayError> {
        let plain = serde_json::to_vec(self).map_err(|_| GatewayError::SessionsUnavailable)?;
        let sealed = key_of(cookie)?
            .seal(&plain, CONTEXT)
            .map_err(|_| GatewayError::SessionsUnavailable)?;
        Ok(base64url::encode(sealed))
    }

    /// The tokens of `session`, opened with `cookie`.
    pub(super) fn open(cookie: &str, session: &SessionRecord) -> Result<Self, GatewayError> {
        let sealed =
            base64url::decode(&session.sealed_tokens).ok_or(GatewayError::SessionsUnavailable)?;
        let plain = key_of(cookie)?.open(&sealed, CONTEXT).map_err(|_| {
            tracing::warn!("a session's tokens could not be opened");
            GatewayError::SessionsUnavailable
        })?;
        serde_json::from_slice(&plain).map_err(|_| GatewayError::SessionsUnavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cookie_opens_the_tokens() {
        let tokens = SessionTokens {
            access_token: "access-secret".into(),
            refresh_token: Some("refresh-secret".into()),
            id_token: None,
        };
        let sealed = tokens.seal("cookie-1").expect("sealed");
        assert!(!sealed.contains("secret"));
        let record = |sealed_tokens: String| SessionRecord {
            subject: "u".into(),
            provider_session: None,
            access_expires_at: 0,
            sealed_tokens,
            created_at: 0,
            last_seen: 0,
        };
        assert_eq!(
            SessionTokens::open("cookie-1", &record(sealed.clone())).expect("opened"),
            tokens
        );
        assert!(SessionTokens::open("cookie-2", &record(sealed)).is_err());
        assert!(SessionTokens::open("cookie-1", &record("garbage".into())).is_err());
    }
}
