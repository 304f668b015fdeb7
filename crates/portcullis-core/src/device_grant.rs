//! The device authorization grant (RFC 8628): a device without a browser, or without a keyboard,
//! asks for a device code and a short user code; the user types the user code on another device,
//! signs in and approves; meanwhile the device polls the token endpoint with its device code.

use crate::{AuthMethods, UnixSeconds};

/// How long a device code and its user code live (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_GRANT_LIFETIME_SECS: i64 = 10 * 60;
/// How long a device waits between polls at first (RFC 8628 §3.2 `interval`).
pub const POLL_INTERVAL_SECS: i64 = 5;
/// What `slow_down` adds to the interval (RFC 8628 §3.5: "increased by 5 seconds").
pub const SLOW_DOWN_SECS: i64 = 5;
/// The interval never grows beyond this, however often a device polls too fast.
pub const MAX_POLL_INTERVAL_SECS: i64 = 60;
/// RFC 8628 §6.1: 20 consonants, no vowels (no words), no look-alike digits; typed in either case.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code: 20^8 ≈ 2^34.6 codes, of which at most a few thousand are live, and
/// every wrong guess is throttled.
pub const USER_CODE_LENGTH: usize = 8;
/// Unexpired device codes one confidential client may have at once.
pub const MAX_PENDING_PER_CLIENT: u64 = 1000;
/// Unexpired device codes of one public client from one address (anyone can ask for one).
pub const MAX_PENDING_PER_ADDRESS: u64 = 20;

/// A user code as typed, in canonical form (upper case, no separators), if it can be one: case,
/// dashes and spaces are ignored (RFC 8628 §6.1).
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = code.len() == USER_CODE_LENGTH
        && code.bytes().all(|byte| USER_CODE_ALPHABET.contains(&byte));
    valid.then_some(code)
}

/// A canonical user code as shown: `BCDF-GHJK`.
pub fn display_user_code(code: &str) -> String {
    let (first, second) = code.split_at(code.len() / 2);
    format!("{first}-{second}")
}

/// A canonical user code from random bytes, by rejection sampling (each character uniform over
/// the alphabet): `None` when `random` runs out first.
pub fn user_code_from(random: &[u8]) -> Option<String> {
    // 240 is the largest multiple of 20 not above 256: bytes from 240 up would bias the draw.
    let code: String = random
        .iter()
        .filter(|byte| **byte < 240)
        .take(USER_CODE_LENGTH)
        .map(|byte| char::from(USER_CODE_ALPHABET[usize::from(*byte % 20)]))
        .collect();
    (code.len() == USER_CODE_LENGTH).then_some(code)
}

/// What the user decided on the verification page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceGrantStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved, in this session.
    Approved(DeviceApproval),
    /// The user denied.
    Denied,
}

/// Who approved a device, and how they had signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceApproval {
    /// The user.
    pub user_id: String,
    /// The session they approved in (its end ends the grant).
    pub sid: String,
    /// When they authenticated.
    pub auth_time: UnixSeconds,
    /// How they authenticated.
    pub amr: AuthMethods,
    /// The scope granted: the requested one, narrowed to what the user's roles allow.
    pub scope: String,
}

/// A device authorization request as stored: under digests of its codes, never the codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrantRecord {
    /// SHA-256 of the device code (base64url).
    pub device_code_hash: String,
    /// SHA-256 of the canonical user code (base64url).
    pub user_code_hash: String,
    /// The client that asked (RFC 8628 §3.4: only it may poll).
    pub client_id: String,
    /// For a public client, the address it asked from (empty for a confidential one).
    pub requested_by: String,
    /// The scope asked for, space-delimited.
    pub scope: String,
    /// Audiences of the access token.
    pub audiences: Vec<String>,
    /// Seconds the device must wait between polls.
    pub interval_secs: i64,
    /// When the device last polled.
    pub last_polled_at: Option<UnixSeconds>,
    /// Expiry.
    pub expires_at: UnixSeconds,
    /// The user's decision so far.
    pub status: DeviceGrantStatus,
}

/// What a poll of the token endpoint finds (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAnswer {
    /// `authorization_pending`.
    Pending,
    /// `slow_down`: the device polled before its interval passed; the interval grows.
    SlowDown,
    /// `expired_token`.
    Expired,
    /// `access_denied`.
    Denied,
    /// Tokens may be issued for this approval.
    Approved(DeviceApproval),
}

impl DeviceGrantRecord {
    /// The answer to a poll at `now`, and the interval from now on.
    pub fn poll(&self, now: UnixSeconds) -> (PollAnswer, i64) {
        if now >= self.expires_at {
            return (PollAnswer::Expired, self.interval_secs);
        }
        match &self.status {
            DeviceGrantStatus::Denied => (PollAnswer::Denied, self.interval_secs),
            DeviceGrantStatus::Approved(approval) => {
                (PollAnswer::Approved(approval.clone()), self.interval_secs)
            }
            DeviceGrantStatus::Pending => {
                let too_soon = self
                    .last_polled_at
                    .is_some_and(|last| now - last < self.interval_secs);
                if too_soon {
                    let slower = (self.interval_secs + SLOW_DOWN_SECS).min(MAX_POLL_INTERVAL_SECS);
                    (PollAnswer::SlowDown, slower)
                } else {
                    (PollAnswer::Pending, self.interval_secs)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> DeviceGrantRecord {
        DeviceGrantRecord {
            device_code_hash: "d".into(),
            user_code_hash: "u".into(),
            client_id: "tv".into(),
            requested_by: String::new(),
            scope: "openid".into(),
            audiences: vec![],
            interval_secs: POLL_INTERVAL_SECS,
            last_polled_at: None,
            expires_at: 1000,
            status: DeviceGrantStatus::Pending,
        }
    }

    #[test]
    fn user_codes_ignore_case_dashes_and_spaces_and_refuse_other_letters() {
        assert_eq!(
            normalize_user_code("bcdf-ghjk").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(
            normalize_user_code(" BCDF GHJK ").as_deref(),
            Some("BCDFGHJK")
        );
        for wrong in [
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "ABCD-FGHJ",
            "BCDF-GHJ1",
            "BCDF–GHJK",
            "",
        ] {
            assert_eq!(normalize_user_code(wrong), None, "{wrong}");
        }
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
    }

    #[test]
    fn user_codes_are_drawn_from_the_alphabet_without_biased_bytes() {
        let bytes: Vec<u8> = (0..=255).collect();
        let code = user_code_from(&bytes).expect("enough bytes");
        assert_eq!(code, "BCDFGHJK");
        assert_eq!(user_code_from(&[250; 64]), None, "biased bytes are skipped");
        assert_eq!(
            user_code_from(&[19, 250, 39, 0, 0, 0, 0, 0, 0]).as_deref(),
            Some("ZZBBBBBB")
        );
    }

    #[test]
    fn polls_answer_pending_slow_down_expired_and_the_decision() {
        let record = pending();
        assert_eq!(record.poll(100), (PollAnswer::Pending, 5));
        let polled = DeviceGrantRecord {
            last_polled_at: Some(100),
            ..pending()
        };
        assert_eq!(polled.poll(104), (PollAnswer::SlowDown, 10));
        assert_eq!(polled.poll(105), (PollAnswer::Pending, 5));
        let patient = DeviceGrantRecord {
            interval_secs: MAX_POLL_INTERVAL_SECS,
            ..polled.clone()
        };
        assert_eq!(patient.poll(101).1, MAX_POLL_INTERVAL_SECS, "capped");
        assert_eq!(polled.poll(1000).0, PollAnswer::Expired);
        let denied = DeviceGrantRecord {
            status: DeviceGrantStatus::Denied,
            ..polled
        };
        assert_eq!(
            denied.poll(101).0,
            PollAnswer::Denied,
            "no slow_down once decided"
        );
        assert_eq!(denied.poll(1000).0, PollAnswer::Expired);
    }
}
