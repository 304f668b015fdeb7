//! A client's public keys, registered by value (`jwks`) or by reference (`jwks_uri`) as RFC 7591
//! §2 names them. They verify the assertions of `private_key_jwt` client authentication (RFC 7523
//! §2.2, OpenID Connect Core §9).

use portcullis_jose::VerifyingKey;
use portcullis_types::JwkSet;

/// The most keys a registered JWK Set may hold.
pub const MAX_CLIENT_KEYS: usize = 16;

/// JWK members that only private keys have (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_KEY_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Where a client's keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKeys {
    /// The keys themselves (`jwks`).
    Inline(JwkSet),
    /// An https URL serving them (`jwks_uri`), fetched when needed.
    Remote(String),
}

/// Why registered keys were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientKeysError {
    /// The JWK Set is not valid JSON of the right shape.
    #[error("jwks must be a JSON object with a `keys` array")]
    NotAJwkSet,
    /// A key carries private members: the client's private key was sent, not its public one.
    #[error("jwks must hold public keys only; key `{0}` has private key members")]
    PrivateKey(String),
    /// A key cannot be used (no kid, unsupported type, `use` other than `sig`).
    #[error("key `{0}` in jwks is not usable: {1}")]
    UnusableKey(String, String),
    /// Two keys share a kid.
    #[error("two keys in jwks share the kid `{0}`")]
    DuplicateKid(String),
    /// No key, or too many.
    #[error("jwks must hold 1 to {MAX_CLIENT_KEYS} keys")]
    Count,
    /// Both `jwks` and `jwks_uri` were given (RFC 7591 §2: they MUST NOT both be present).
    #[error("give jwks or jwks_uri, not both")]
    Both,
    /// The URL is not an acceptable `jwks_uri`.
    #[error(
        "jwks_uri must be an https URL (plain http only for loopback addresses), without fragment or credentials"
    )]
    InvalidUri,
}

impl ClientKeys {
    /// The keys of registration metadata: `jwks` (JSON text) or `jwks_uri`, or neither.
    ///
    /// # Errors
    /// [`ClientKeysError::Both`] when both are given (RFC 7591 §2), or why the one given is
    /// refused.
    pub fn from_metadata(
        jwks: Option<&str>,
        jwks_uri: Option<&str>,
    ) -> Result<Option<ClientKeys>, ClientKeysError> {
        match (jwks, jwks_uri) {
            (Some(_), Some(_)) => Err(ClientKeysError::Both),
            (Some(json), None) => Self::inline_from_json(json).map(Some),
            (None, Some(uri)) => Self::remote(uri).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Reads a JWK Set given by value, refusing private keys and keys Portcullis cannot verify
    /// with: every key must be usable, since a skipped key would surprise its owner later.
    ///
    /// # Errors
    /// The first [`ClientKeysError`].
    pub fn inline_from_json(text: &str) -> Result<ClientKeys, ClientKeysError> {
        let document: serde_json::Value =
            serde_json::from_str(text).map_err(|_| ClientKeysError::NotAJwkSet)?;
        let members = document
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or(ClientKeysError::NotAJwkSet)?;
        for member in members {
            if PRIVATE_KEY_MEMBERS
                .iter()
                .any(|name| member.get(name).is_some())
            {
                let kid = member.get("kid").and_then(serde_json::Value::as_str);
                return Err(ClientKeysError::PrivateKey(kid.unwrap_or("?").to_owned()));
            }
        }
        let set: JwkSet =
            serde_json::from_value(document).map_err(|_| ClientKeysError::NotAJwkSet)?;
        Self::check_set(&set)?;
        Ok(ClientKeys::Inline(set))
    }

    /// Reads keys stored by [`ClientKeys::inline_json`], already checked when registered.
    ///
    /// # Errors
    /// [`ClientKeysError::NotAJwkSet`] for a corrupt record.
    pub fn from_stored_json(json: &str) -> Result<ClientKeys, ClientKeysError> {
        serde_json::from_str(json)
            .map(ClientKeys::Inline)
            .map_err(|_| ClientKeysError::NotAJwkSet)
    }

    /// A `jwks_uri`: https, or plain http on a loopback address (for development, as for
    /// redirect URIs); no fragment and no credentials in the URL.
    ///
    /// # Errors
    /// [`ClientKeysError::InvalidUri`].
    pub fn remote(uri: &str) -> Result<ClientKeys, ClientKeysError> {
        let acceptable = crate::client::is_absolute_uri(uri)
            && !uri.contains('#')
            && (uri.starts_with("https://") || crate::client::is_loopback_http(uri))
            && !uri
                .split_once("://")
                .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
                .is_some_and(|authority| authority.contains('@') || authority.is_empty());
        if acceptable {
            Ok(ClientKeys::Remote(uri.to_owned()))
        } else {
            Err(ClientKeysError::InvalidUri)
        }
    }

    /// Checks a fetched or given set: 1 to [`MAX_CLIENT_KEYS`] usable keys with distinct kids.
    ///
    /// # Errors
    /// The first [`ClientKeysError`].
    pub fn check_set(set: &JwkSet) -> Result<(), ClientKeysError> {
        if set.keys.is_empty() || set.keys.len() > MAX_CLIENT_KEYS {
            return Err(ClientKeysError::Count);
        }
        let mut kids = Vec::with_capacity(set.keys.len());
        for jwk in &set.keys {
            let kid = jwk.kid.clone().unwrap_or_else(|| "?".to_owned());
            VerifyingKey::from_jwk(jwk)
                .map_err(|error| ClientKeysError::UnusableKey(kid.clone(), error.to_string()))?;
            if kids.contains(&kid) {
                return Err(ClientKeysError::DuplicateKid(kid));
            }
            kids.push(kid);
        }
        Ok(())
    }

    /// The registered `jwks`, when given by value.
    pub fn inline_set(&self) -> Option<&JwkSet> {
        match self {
            ClientKeys::Inline(set) => Some(set),
            ClientKeys::Remote(_) => None,
        }
    }

    /// The registered `jwks` as JSON (for storage), when given by value.
    pub fn inline_json(&self) -> Option<String> {
        self.inline_set()
            .and_then(|set| serde_json::to_string(set).ok())
    }

    /// The registered `jwks_uri`, when given by reference.
    pub fn uri(&self) -> Option<&str> {
        match self {
            ClientKeys::Inline(_) => None,
            ClientKeys::Remote(uri) => Some(uri),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_jose::KeySet;

    const EC_KEY: &str = r#"{"kty":"EC","crv":"P-256","kid":"k1",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn a_public_key_set_is_accepted_and_private_keys_are_refused() {
        let keys = ClientKeys::inline_from_json(&format!(r#"{{"keys":[{EC_KEY}]}}"#))
            .expect("public key set");
        let ClientKeys::Inline(set) = &keys else {
            panic!("inline keys expected");
        };
        assert!(KeySet::from_jwks(set).get("k1").is_some());
        assert!(
            keys.inline_json()
                .is_some_and(|json| json.contains("\"k1\""))
        );
        let private = EC_KEY.replace(
            r#""kid":"k1""#,
            r#""kid":"k1","d":"jpsQnnGQmL-YBIffH1136cLYkq8qeO8V4lLlVSg0LB0""#,
        );
        assert_eq!(
            ClientKeys::inline_from_json(&format!(r#"{{"keys":[{private}]}}"#)),
            Err(ClientKeysError::PrivateKey("k1".into()))
        );
    }

    #[test]
    fn unusable_empty_or_repeated_keys_are_refused() {
        assert_eq!(
            ClientKeys::inline_from_json("[]"),
            Err(ClientKeysError::NotAJwkSet)
        );
        assert_eq!(
            ClientKeys::inline_from_json(r#"{"keys":[]}"#),
            Err(ClientKeysError::Count)
        );
        let no_kid = EC_KEY.replace(r#""kid":"k1","#, "");
        assert!(matches!(
            ClientKeys::inline_from_json(&format!(r#"{{"keys":[{no_kid}]}}"#)),
            Err(ClientKeysError::UnusableKey(..))
        ));
        let symmetric = r#"{"kty":"oct","kid":"h","alg":"HS256"}"#;
        assert!(matches!(
            ClientKeys::inline_from_json(&format!(r#"{{"keys":[{symmetric}]}}"#)),
            Err(ClientKeysError::UnusableKey(..))
        ));
        assert_eq!(
            ClientKeys::inline_from_json(&format!(r#"{{"keys":[{EC_KEY},{EC_KEY}]}}"#)),
            Err(ClientKeysError::DuplicateKid("k1".into()))
        );
    }

    #[test]
    fn a_jwks_uri_is_https_or_loopback_http() {
        for good in ["https://rp.example/jwks", "http://127.0.0.1:9000/jwks"] {
            assert!(ClientKeys::remote(good).is_ok(), "{good}");
        }
        for bad in [
            "http://rp.example/jwks",
            "https://user:pass@rp.example/jwks",
            "https://rp.example/jwks#x",
            "ftp://rp.example/jwks",
            "https:///jwks",
            "/jwks",
        ] {
            assert_eq!(
                ClientKeys::remote(bad),
                Err(ClientKeysError::InvalidUri),
                "{bad}"
            );
        }
    }
}
