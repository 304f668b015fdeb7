//! Time-based one-time codes (RFC 6238, on HOTP of RFC 4226) as a second factor: the secret an
//! authenticator app shares, the code of a time step, and the check of a presented code.
//!
//! A code is good for one step either side of now (RFC 6238 §5.2 allows for clock drift and
//! typing time) and once only: the step it matched is recorded and a code of that step or an
//! earlier one is refused (§5.2: "the verifier MUST NOT accept the second attempt of the same
//! OTP").

use crate::UnixSeconds;
use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;
use portcullis_jose::{JoseError, constant_time_eq, random_bytes};
use std::fmt;

/// Seconds in a time step (RFC 6238 §5.2 recommends 30).
pub const STEP_SECS: i64 = 30;
/// Digits in a code (RFC 4226 §5.3: at least six).
pub const DIGITS: u32 = 6;
/// Steps either side of now that are still accepted.
const DRIFT_STEPS: i64 = 1;
/// Bytes of the shared secret: 160 bits, the length RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;

/// A shared TOTP secret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh random secret.
    ///
    /// # Errors
    /// Fails only when the system random generator is unavailable.
    pub fn generate() -> Result<TotpSecret, JoseError> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        random_bytes(&mut bytes)?;
        Ok(TotpSecret(bytes))
    }

    /// A secret from its stored bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(bytes)
    }

    /// The raw bytes, to seal for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in base32 without padding, as apps take it when typed in by hand.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://` URI an app reads from the QR code (the Key Uri Format of Google
    /// Authenticator, which every app follows): labelled `issuer:account`.
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{issuer}:{account}");
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("secret", &self.to_base32())
            .append_pair("issuer", issuer)
            .append_pair("algorithm", "SHA1")
            .append_pair("digits", &DIGITS.to_string())
            .append_pair("period", &STEP_SECS.to_string());
        let label: String = form_urlencoded::byte_serialize(label.as_bytes())
            .collect::<String>()
            // The label is a path segment: a space is %20, never `+`.
            .replace('+', "%20");
        format!("otpauth://totp/{label}?{}", query.finish())
    }

    /// The code of time step `step` (RFC 4226 §5.3 dynamic truncation of HMAC-SHA-1, RFC 6238
    /// §4.2 with `T` = `step`).
    pub fn code_at(&self, step: i64) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let digest = tag.as_ref();
        let offset = usize::from(digest[digest.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        format!(
            "{:0width$}",
            binary % 10u32.pow(DIGITS),
            width = DIGITS as usize
        )
    }

    /// The step a presented `code` matches at `now`, if it matches one within the drift and
    /// after `last_used_step` (so no code is good twice). Spaces in the code are ignored, as
    /// apps show it in two groups.
    pub fn verify(&self, code: &str, now: UnixSeconds, last_used_step: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS as usize || !code.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        let current = step_of(now);
        // Every candidate is computed and compared, so the time taken says nothing about
        // which step (if any) matched.
        let mut matched = None;
        for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
            if constant_time_eq(self.code_at(step).as_bytes(), code.as_bytes())
                && step > last_used_step
            {
                matched = Some(step);
            }
        }
        matched
    }
}

/// Wrong second-factor codes in a row after which the user's factors stop working until an
/// administrator resets them (NIST SP 800-63B §5.2.2 allows at most 100): the throttle's lockouts
/// end, this does not, so a password-holder cannot guess for ever.
pub const FAILURE_LIMIT: i64 = 100;

/// A user's one-time-code app, stored once its first code confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactorRecord {
    /// The user.
    pub user_id: String,
    /// The secret, sealed with the key-encryption key.
    pub sealed_secret: Vec<u8>,
    /// When the first code confirmed it.
    pub confirmed_at: UnixSeconds,
    /// The last time step a code was accepted for.
    pub last_step: i64,
    /// Wrong codes (of the app or recovery codes) in a row.
    pub failures: i64,
}

/// The time step of `now` (RFC 6238 §4.2, `T0` = 0).
pub fn step_of(now: UnixSeconds) -> i64 {
    now.div_euclid(STEP_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 secret: the ASCII of "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // Appendix B lists 8-digit codes; six digits are their last six.
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(rfc_secret().code_at(step_of(time)), eight_digits[2..]);
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_only_once() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = step_of(now);
        for drift in [-1, 0, 1] {
            let code = secret.code_at(step + drift);
            assert_eq!(secret.verify(&code, now, 0), Some(step + drift));
        }
        assert_eq!(secret.verify(&secret.code_at(step - 2), now, 0), None);
        assert_eq!(secret.verify(&secret.code_at(step + 2), now, 0), None);
        // Once used, the same step (and any before it) is refused.
        let code = secret.code_at(step);
        assert_eq!(secret.verify(&code, now, step), None);
        assert_eq!(secret.verify(&secret.code_at(step - 1), now, step), None);
        assert_eq!(
            secret.verify(&secret.code_at(step + 1), now, step),
            Some(step + 1)
        );
    }

    #[test]
    fn malformed_codes_and_other_secrets_are_refused() {
        let secret = rfc_secret();
        let now = 59;
        let code = secret.code_at(step_of(now));
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(secret.verify(&spaced, now, 0).is_some());
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(secret.verify(bad, now, 0), None, "{bad}");
        }
        let other = TotpSecret::generate().expect("random");
        assert_ne!(other, secret);
        assert_eq!(other.as_bytes().len(), 20);
    }

    #[test]
    fn the_provisioning_uri_carries_the_secret_and_issuer() {
        let uri = rfc_secret().provisioning_uri("Acme Corp", "ann@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Acme%20Corp%3Aann%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme+Corp"));
        assert!(uri.ends_with("&algorithm=SHA1&digits=6&period=30"));
    }
}
