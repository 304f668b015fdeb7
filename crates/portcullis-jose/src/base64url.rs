//! Base64url without padding (RFC 7515 §2), strict on decode: padding, stray characters and
//! non-canonical trailing bits are all rejected.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url; `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_padding_and_foreign_alphabets() {
        assert_eq!(decode("aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode("aGk="), None);
        assert_eq!(decode("a+k/"), None);
        assert_eq!(decode("aGl"), None, "non-canonical trailing bits");
        assert_eq!(encode(b"hi"), "aGk");
    }
}
