//! Proof Key for Code Exchange (RFC 7636), `S256` only: `plain` offers no protection against an
//! intercepted authorization request and is refused (RFC 9700 §2.1.1).

use portcullis_jose::{base64url, constant_time_eq, sha256};

/// Whether `text` is a valid code verifier or S256 challenge body: 43–128 characters from the
/// unreserved set `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"` (RFC 7636 §4.1, §4.2).
pub fn is_valid_verifier(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte))
}

/// Whether `challenge` can be an S256 code challenge: base64url of a SHA-256 digest, 43 chars.
pub fn is_valid_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && base64url::decode(challenge).is_some_and(|digest| digest.len() == 32)
}

/// The S256 challenge of a verifier: `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
pub fn s256_challenge(verifier: &str) -> String {
    base64url::encode(sha256(verifier.as_bytes()))
}

/// RFC 7636 §4.6: the server recomputes the challenge from the verifier and compares.
pub fn verify_s256(verifier: &str, challenge: &str) -> bool {
    is_valid_verifier(verifier)
        && constant_time_eq(s256_challenge(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_appendix_b_vector() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert!(verify_s256(VERIFIER, CHALLENGE));
        assert!(is_valid_s256_challenge(CHALLENGE));
    }

    #[test]
    fn wrong_short_long_or_plain_verifiers_fail() {
        let mut wrong = VERIFIER.to_owned();
        wrong.replace_range(0..1, "e");
        assert!(!verify_s256(&wrong, CHALLENGE));
        assert!(
            !verify_s256("short", &s256_challenge("short")),
            "too short even if it matches"
        );
        let long = "a".repeat(129);
        assert!(!verify_s256(&long, &s256_challenge(&long)));
        assert!(
            !verify_s256(CHALLENGE, CHALLENGE),
            "plain: verifier equal to the challenge"
        );
        assert!(!is_valid_verifier(&format!("{}!", &VERIFIER[..43])));
        assert!(!is_valid_s256_challenge("plain-challenge"));
    }
}
