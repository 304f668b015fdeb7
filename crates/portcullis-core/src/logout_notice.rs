//! OpenID Connect Back-Channel Logout 1.0: when a session ends, every client the user signed in
//! to during it, and that registered a `backchannel_logout_uri`, is told so directly, with a
//! signed logout token. A notice is queued durably when the session ends (in the same store as
//! everything else), and leaves the queue once the client answered 2xx, or after the retries run
//! out (audited).

use crate::UnixSeconds;
use serde::Serialize;

/// The `typ` of a logout token (Back-Channel Logout 1.0 §2.4, explicit typing per RFC 8725 §3.11).
pub const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The member of `events` naming a back-channel logout (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid: a client checks it as soon as it arrives.
pub const LOGOUT_TOKEN_LIFETIME_SECS: i64 = 120;
/// Attempts before a notice is given up (about an hour and a half of back-off).
pub const MAX_LOGOUT_ATTEMPTS: u32 = 12;

/// A queued notice: tell `client_id` that session `sid` of `subject` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutNotice {
    /// Its position in the queue.
    pub id: i64,
    /// The client to tell.
    pub client_id: String,
    /// The user (`sub`).
    pub subject: String,
    /// The session (`sid`).
    pub sid: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the session ended.
    pub created_at: UnixSeconds,
}

/// The claims of a logout token (Back-Channel Logout 1.0 §2.4): `iss`, `aud`, `iat`, `exp`,
/// `jti`, `sub` and `sid`, and `events`; never a `nonce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogoutTokenClaims {
    /// The issuer.
    pub iss: String,
    /// The client told.
    pub aud: String,
    /// Issued at.
    pub iat: UnixSeconds,
    /// Expiry.
    pub exp: UnixSeconds,
    /// Unique id, for the client's replay check.
    pub jti: String,
    /// The user.
    pub sub: String,
    /// The session that ended.
    pub sid: String,
    /// `{ "http://schemas.openid.net/event/backchannel-logout": {} }`.
    pub events: serde_json::Value,
}

impl LogoutTokenClaims {
    /// The claims telling the client of `notice` from `issuer`, issued at `now` with id `jti`.
    pub fn for_notice(
        issuer: &str,
        notice: &LogoutNotice,
        now: UnixSeconds,
        jti: String,
    ) -> LogoutTokenClaims {
        LogoutTokenClaims {
            iss: issuer.to_owned(),
            aud: notice.client_id.clone(),
            iat: now,
            exp: now + LOGOUT_TOKEN_LIFETIME_SECS,
            jti,
            sub: notice.subject.clone(),
            sid: notice.sid.clone(),
            events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_token_names_the_event_the_user_and_the_session_and_no_nonce() {
        let notice = LogoutNotice {
            id: 1,
            client_id: "app".into(),
            subject: "u1".into(),
            sid: "s1".into(),
            attempts: 0,
            created_at: 10,
        };
        let claims = LogoutTokenClaims::for_notice("https://id.example", &notice, 100, "j".into());
        let json = serde_json::to_value(&claims).expect("json");
        assert_eq!(json["aud"], "app");
        assert_eq!(json["sub"], "u1");
        assert_eq!(json["sid"], "s1");
        assert_eq!(json["exp"], 100 + LOGOUT_TOKEN_LIFETIME_SECS);
        assert_eq!(
            json["events"][BACKCHANNEL_LOGOUT_EVENT],
            serde_json::json!({})
        );
        assert!(
            json.get("nonce").is_none(),
            "§2.4: a logout token MUST NOT carry a nonce"
        );
    }
}
