//! Recovery codes: ten single-use codes shown once when a second factor is set up, for when the
//! authenticator is lost. Each has 50 random bits; only a hash is stored (bound to the user, so a
//! hash cannot be moved to another account), and every guess goes through the sign-in throttle.

use data_encoding::BASE32_NOPAD;
use portcullis_jose::{JoseError, MacKey, random_bytes};

/// Codes in a set.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes of one code: 50 bits are used (ten base32 characters).
const CODE_BYTES: usize = 7;
/// Characters of a code, shown in two groups of five.
const CODE_CHARS: usize = 10;

/// A fresh set of codes, written `xxxxx-xxxxx` in lower-case RFC 4648 base32 (letters and the
/// digits 2–7: no 0/O or 1/l to confuse).
///
/// # Errors
/// Fails only when the system random generator is unavailable.
pub fn generate_recovery_codes() -> Result<Vec<String>, JoseError> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; CODE_BYTES];
            random_bytes(&mut bytes)?;
            let text = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
            Ok(format!("{}-{}", &text[..5], &text[5..CODE_CHARS]))
        })
        .collect()
}

/// A typed code as stored: lower case, without spaces or dashes; `None` when it cannot be a
/// code (so it is not even looked up).
pub fn normalize_recovery_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = code.len() == CODE_CHARS
        && code
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || (b'2'..=b'7').contains(&byte));
    valid.then_some(code)
}

/// The stored hash of `user_id`'s code `normalized`: an HMAC under `key` (derived from the
/// key-encryption key), so a copy of the database alone cannot be searched for the codes (50 bits
/// would fall to an offline search of a plain hash); online guesses are throttled.
pub fn recovery_code_hash(key: &MacKey, user_id: &str, normalized: &str) -> Vec<u8> {
    key.tag(format!("portcullis recovery code v1\0{user_id}\0{normalized}").as_bytes())
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_distinct_and_normalize_back() {
        let codes = generate_recovery_codes().expect("random");
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(&code[5..6], "-");
            let normalized = normalize_recovery_code(code).expect("valid");
            assert_eq!(normalized, code.replace('-', ""));
            // Typed in capitals, with spaces instead of the dash: the same code.
            let typed = code.to_uppercase().replace('-', " ");
            assert_eq!(normalize_recovery_code(&typed), Some(normalized));
        }
    }

    #[test]
    fn malformed_codes_are_refused_and_hashes_are_per_user() {
        for bad in [
            "",
            "abcde",
            "abcde-fghij-k",
            "abcde-fgh1j",
            "abcde-fghi0",
            "ábcde-fghij",
        ] {
            assert_eq!(normalize_recovery_code(bad), None, "{bad}");
        }
        let key = MacKey::random().expect("key");
        assert_ne!(
            recovery_code_hash(&key, "u1", "abcdefghij"),
            recovery_code_hash(&key, "u2", "abcdefghij")
        );
        assert_ne!(
            recovery_code_hash(&key, "u1", "abcdefghij"),
            recovery_code_hash(&MacKey::random().expect("key"), "u1", "abcdefghij"),
            "keyed: another server key gives another hash"
        );
    }
}
