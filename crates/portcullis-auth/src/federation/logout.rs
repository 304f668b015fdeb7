//! Signing out at the provider too (OpenID Connect RP-Initiated Logout 1.0): after the local
//! session ends, the browser goes to the provider's `end_session_endpoint` with this server's
//! `client_id` and `post_logout_redirect_uri` `<issuer>/federation/<id>/signed-out`; its `state`
//! carries where the local logout was going, tagged so that the way back cannot be turned into
//! an open redirect.

use portcullis_jose::{MacKey, base64url};

fn tagged(destination: &str) -> Vec<u8> {
    format!("portcullis upstream logout v1\n{destination}").into_bytes()
}

/// The `state` carrying `destination` (empty: this server's signed-out page).
pub fn state_for(key: &MacKey, destination: &str) -> String {
    format!(
        "{}.{}",
        base64url::encode(destination),
        base64url::encode(key.tag(&tagged(destination)))
    )
}

/// The destination `state` carries, if it is one of this server's.
pub fn destination(key: &MacKey, state: &str) -> Option<String> {
    let (destination, tag) = state.split_once('.')?;
    let destination = String::from_utf8(base64url::decode(destination)?).ok()?;
    key.verify(&tagged(&destination), &base64url::decode(tag)?)
        .then_some(destination)
}

/// Where the provider sends the browser back after signing out there.
pub fn signed_out_path(id: &str) -> String {
    format!("/federation/{id}/signed-out")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_state_of_this_server_names_a_destination() {
        let key = MacKey::random().expect("key");
        let state = state_for(&key, "https://app.example/bye?state=x");
        assert_eq!(
            destination(&key, &state).as_deref(),
            Some("https://app.example/bye?state=x")
        );
        assert_eq!(destination(&key, &state_for(&key, "")).as_deref(), Some(""));
        let forged = format!(
            "{}.{}",
            base64url::encode("https://evil.example"),
            state
                .split_once('.')
                .map(|(_, tag)| tag)
                .unwrap_or_default()
        );
        assert_eq!(destination(&key, &forged), None);
        assert_eq!(destination(&MacKey::random().expect("key"), &state), None);
        assert_eq!(destination(&key, "no-dot"), None);
    }
}
