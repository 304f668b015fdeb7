//! A set of verification keys addressed by `kid`, built from a JWKS or from local keys.

use crate::VerifyingKey;
use portcullis_types::JwkSet;
use std::collections::HashMap;

/// Verification keys by key id. Lookup is the only way a key is chosen for a token.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl KeySet {
    /// A set of the given keys; a later key with the same kid replaces an earlier one.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        KeySet {
            keys: keys
                .into_iter()
                .map(|key| (key.kid().to_owned(), key))
                .collect(),
        }
    }

    /// Reads a JWK Set. Keys Portcullis cannot use (other types, encryption keys, no `kid`) are
    /// skipped rather than failing the whole set, as RFC 7517 §5 asks of JWK Set readers.
    pub fn from_jwks(jwks: &JwkSet) -> Self {
        Self::from_keys(
            jwks.keys
                .iter()
                .filter_map(|jwk| VerifyingKey::from_jwk(jwk).ok()),
        )
    }

    /// The key with this id.
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.get(kid)
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
