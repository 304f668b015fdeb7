//! Logout token validation (OpenID Connect Back-Channel Logout 1.0 §2.6): the provider tells the
//! application that a session (`sid`) or every session of a user (`sub`) has ended.

use super::id_token::{IdTokenError, verified_claims};
use portcullis_jose::{Audience, KeySet};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The event a logout token must carry (§2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a validated logout token ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    /// `sub`: the user, when named.
    pub subject: Option<String>,
    /// `sid`: the provider's session, when named.
    pub session_id: Option<String>,
    /// `jti`: remembered by the application so the token cannot be replayed (§2.6 step 7).
    pub token_id: String,
    /// Until when the token could be replayed (its `exp`, with the leeway).
    pub replayable_until: i64,
}

/// What a logout token must satisfy.
pub(super) struct LogoutTokenRules<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub leeway_secs: i64,
}

#[derive(Deserialize)]
struct Checked {
    iss: String,
    aud: Audience,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    events: Map<String, Value>,
}

impl LogoutTokenRules<'_> {
    /// What `token` ends, validated with `keys` at `now`.
    pub(super) fn validate(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<LogoutClaims, IdTokenError> {
        // §2.6 step 2: signed as an id token would be; `none` never (the key decides).
        let claims = verified_claims(token, keys, &["at+jwt"])?;
        // §2.6 step 6: a logout token MUST NOT carry a nonce (so an id token never passes).
        if claims.contains_key("nonce") {
            return Err(IdTokenError::Claim("a logout token carries no nonce"));
        }
        let checked: Checked = serde_json::from_value(Value::Object(claims))
            .map_err(|_| IdTokenError::Claim("iss, aud, iat, exp, jti and events are required"))?;
        // §2.6 step 3: iss, aud, iat and exp (REQUIRED, §2.4) as for an id token.
        if checked.iss != self.issuer {
            return Err(IdTokenError::Claim("iss is not the provider"));
        }
        if !checked.aud.contains(self.client_id) {
            return Err(IdTokenError::Claim("aud does not name this client"));
        }
        if checked.exp.saturating_add(self.leeway_secs) <= now
            || checked.iat.saturating_sub(self.leeway_secs) > now
        {
            return Err(IdTokenError::Claim("expired or issued in the future"));
        }
        // §2.6 step 4: a session, a user, or both.
        if checked.sub.is_none() && checked.sid.is_none() {
            return Err(IdTokenError::Claim("neither sub nor sid"));
        }
        // §2.6 step 5: the back-channel logout event, whose value is a JSON object.
        if !checked
            .events
            .get(BACKCHANNEL_LOGOUT_EVENT)
            .is_some_and(Value::is_object)
        {
            return Err(IdTokenError::Claim("not a back-channel logout event"));
        }
        Ok(LogoutClaims {
            subject: checked.sub,
            session_id: checked.sid,
            token_id: checked.jti,
            replayable_until: checked.exp.saturating_add(self.leeway_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_jose::{Algorithm, SigningKey, sign_compact};
    use serde_json::json;

    const ISSUER: &str = "https://op.example";

    fn rules() -> LogoutTokenRules<'static> {
        LogoutTokenRules {
            issuer: ISSUER,
            client_id: "gw",
            leeway_secs: 30,
        }
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": "gw", "iat": 1_000, "exp": 1_120, "jti": "j-1", "sid": "s-1",
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}}
        })
    }

    #[test]
    fn only_a_fresh_logout_event_of_the_provider_for_this_client_passes() {
        let key = SigningKey::generate(Algorithm::Es256, "k".into()).expect("key");
        let keys = KeySet::from_keys([key.verifying_key().clone()]);
        let sign = |claims: &Value, typ: &str| {
            sign_compact(claims.to_string().as_bytes(), typ, &key).expect("sign")
        };
        let valid = rules()
            .validate(&sign(&claims(), "logout+jwt"), &keys, 1_010)
            .expect("valid");
        assert_eq!(valid.session_id.as_deref(), Some("s-1"));
        assert_eq!(valid.subject, None);
        assert_eq!(valid.token_id, "j-1");
        assert_eq!(valid.replayable_until, 1_150);
        let with = |change: &dyn Fn(&mut Map<String, Value>)| {
            let mut changed = claims();
            if let Some(object) = changed.as_object_mut() {
                change(object);
            }
            changed
        };
        for (why, token, now) in [
            ("expired", sign(&claims(), "logout+jwt"), 1_200),
            ("issued later", sign(&claims(), "logout+jwt"), 900),
            (
                "another issuer",
                sign(&with(&|c| drop(c.insert("iss".into(), json!("x")))), "JWT"),
                1_010,
            ),
            (
                "another client",
                sign(&with(&|c| drop(c.insert("aud".into(), json!("x")))), "JWT"),
                1_010,
            ),
            (
                "a nonce",
                sign(
                    &with(&|c| drop(c.insert("nonce".into(), json!("n")))),
                    "JWT",
                ),
                1_010,
            ),
            (
                "no session nor user",
                sign(&with(&|c| drop(c.remove("sid"))), "JWT"),
                1_010,
            ),
            (
                "no jti",
                sign(&with(&|c| drop(c.remove("jti"))), "JWT"),
                1_010,
            ),
            (
                "no exp",
                sign(&with(&|c| drop(c.remove("exp"))), "JWT"),
                1_010,
            ),
            (
                "another event",
                sign(
                    &with(&|c| drop(c.insert("events".into(), json!({"x": {}})))),
                    "JWT",
                ),
                1_010,
            ),
            (
                "the event not an object",
                sign(
                    &with(&|c| {
                        drop(c.insert("events".into(), json!({BACKCHANNEL_LOGOUT_EVENT: "x"})))
                    }),
                    "JWT",
                ),
                1_010,
            ),
            ("an access token", sign(&claims(), "at+jwt"), 1_010),
        ] {
            assert!(rules().validate(&token, &keys, now).is_err(), "{why}");
        }
        let other = SigningKey::generate(Algorithm::Es256, "other".into()).expect("key");
        let unknown = sign_compact(claims().to_string().as_bytes(), "JWT", &other).expect("sign");
        assert_eq!(
            rules().validate(&unknown, &keys, 1_010),
            Err(IdTokenError::UnknownKey)
        );
        let by_user = with(&|c| {
            c.remove("sid");
            c.insert("sub".into(), json!("u-1"));
        });
        let valid = rules()
            .validate(&sign(&by_user, "JWT"), &keys, 1_100)
            .expect("a user's sessions");
        assert_eq!(valid.subject.as_deref(), Some("u-1"));
        assert_eq!(valid.session_id, None);
    }
}
