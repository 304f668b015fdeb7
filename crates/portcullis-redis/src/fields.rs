//! Records stored as Redis hashes: reading fields back with the store's error for bad data.

use portcullis_service::StoreError;
use std::collections::HashMap;

/// The fields of one hash, as `HGETALL` returned them.
pub struct Fields<'a> {
    what: &'a str,
    fields: &'a HashMap<String, String>,
}

impl<'a> Fields<'a> {
    /// The fields of a `what` (for error messages).
    pub fn new(what: &'a str, fields: &'a HashMap<String, String>) -> Self {
        Fields { what, fields }
    }

    /// A required text field.
    pub fn text(&self, name: &str) -> Result<String, StoreError> {
        self.fields
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt(format!("{} without {name}", self.what)))
    }

    /// An optional text field.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.fields.get(name).cloned()
    }

    /// A required integer field.
    pub fn number(&self, name: &str) -> Result<i64, StoreError> {
        self.text(name)?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{} {name}", self.what)))
    }
}

/// Lowercase hex of `bytes`, for keys.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Bytes of lowercase hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::{hex, unhex};

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
