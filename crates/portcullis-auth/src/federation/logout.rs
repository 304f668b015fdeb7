//! Signing out at the provider too (OpenID Connect RP-Initiated Logout 1.0): after the local
//! session ends, the browser goes to the provider's `end_session_endpoint` with this server's
//! `client_id` and `post_logout_redirect_uri` `<issuer>/federation/<id>/signed-out`; its `state`
//! carries where the local logout was going, tagged so that the way back cannot be turned into
//! an open redirect, and good for a quarter of an hour only.

use portcullis_core::UnixSeconds;
use portcullis_jose::{MacKey, base64url};

/// How long the way back stays good: the provider's confirmation page in between.
pub const STATE_LIFETIME_SECS: i64 = 15 * 60;

fn tagged(payload: &str) -> Vec<u8> {
    format!("portcullis upstream logout v2\n{payload}").into_bytes()
}

/// The `state` carrying `destination` (empty: this server's signed-out page), made at `now`.
pub fn state_for(key: &MacKey, destination: &str, now: UnixSeconds) -> String {
    let payload = format!("{now}\n{destination}");
    format!(
        "{}.{}",
        base64url::encode(&payload),
        base64url::encode(key.tag(&tagged(&payload)))
    )
}

/// The destination `state` carries, if it is one of this server's and still good at `now`.
pub fn destination(key: &MacKey, state: &str, now: UnixSeconds) -> Option<String> {
    let (payload, tag) = state.split_once('.')?;
    let payload = String::from_utf8(base64url::decode(payload)?).ok()?;
    if !key.verify(&tagged(&payload), &base64url::decode(tag)?) {
        return None;
    }
    let (made, destination) = payload.split_once('\n')?;
    let made: UnixSeconds = made.parse().ok()?;
    (now >= made && now < made + STATE_LIFETIME_SECS).then(|| destination.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_fresh_state_of_this_server_names_a_destination() {
        let key = MacKey::random().expect("key");
        let state = state_for(&key, "https://app.example/bye?state=x", 1000);
        assert_eq!(
            destination(&key, &state, 1000).as_deref(),
            Some("https://app.example/bye?state=x")
        );
        assert_eq!(
            destination(&key, &state_for(&key, "", 1000), 1001).as_deref(),
            Some("")
        );
        assert_eq!(
            destination(&key, &state, 1000 + STATE_LIFETIME_SECS),
            None,
            "expired"
        );
        let forged = format!(
            "{}.{}",
            base64url::encode("1000\nhttps://evil.example"),
            state
                .split_once('.')
                .map(|(_, tag)| tag)
                .unwrap_or_default()
        );
        assert_eq!(destination(&key, &forged, 1000), None);
        assert_eq!(
            destination(&MacKey::random().expect("key"), &state, 1000),
            None
        );
        assert_eq!(destination(&key, "no-dot", 1000), None);
    }
}
