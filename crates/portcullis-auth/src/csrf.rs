//! CSRF protection for the HTML forms: a double-submit token (cookie and hidden field must match)
//! that the server minted itself. A token is a random nonce with its HMAC under a key derived from
//! the key-encryption key, so every server of a cluster recognises it; a cookie value the client
//! brought is never adopted unless it carries a valid tag, so an attacker who managed to plant a
//! cookie of a chosen value still cannot forge a matching form.

use crate::cookies::{CSRF_COOKIE, csrf_cookie, read_cookie};
use axum::http::{HeaderMap, HeaderValue};
use portcullis_jose::{MacKey, base64url};

/// Bytes of randomness in a token.
const NONCE_BYTES: usize = 32;

/// Whether `token` is one this server family minted: `nonce.tag` with a valid tag.
fn is_minted(key: &MacKey, token: &str) -> bool {
    let Some((nonce, tag)) = token.split_once('.') else {
        return false;
    };
    let (Some(nonce), Some(tag)) = (base64url::decode(nonce), base64url::decode(tag)) else {
        return false;
    };
    nonce.len() == NONCE_BYTES && key.verify(&nonce, &tag)
}

/// A fresh token.
fn mint(key: &MacKey) -> Option<String> {
    let mut nonce = [0u8; NONCE_BYTES];
    portcullis_jose::random_bytes(&mut nonce).ok()?;
    Some(format!(
        "{}.{}",
        base64url::encode(nonce),
        base64url::encode(key.tag(&nonce))
    ))
}

/// The CSRF token to embed in a form: the browser's own if this server minted it, else a new one
/// with the `Set-Cookie` that hands it over.
pub fn token_for(key: &MacKey, headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) =
        read_cookie(headers, CSRF_COOKIE, secure).filter(|token| is_minted(key, token))
    {
        return (existing, None);
    }
    let token = mint(key).unwrap_or_default();
    let cookie = csrf_cookie(token.clone(), secure);
    (token, Some(cookie))
}

/// Whether the form's token matches the cookie's, and the server minted it (constant-time
/// comparison).
pub fn is_valid(key: &MacKey, headers: &HeaderMap, form_token: Option<&str>, secure: bool) -> bool {
    match (read_cookie(headers, CSRF_COOKIE, secure), form_token) {
        (Some(cookie), Some(form)) => {
            is_minted(key, &cookie)
                && portcullis_jose::constant_time_eq(cookie.as_bytes(), form.as_bytes())
        }
        _ => false,
    }
}

/// A posted form's fields, and whether its CSRF token is valid.
pub fn posted_form(
    state: &crate::state::AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> (crate::form::OAuthParams, bool) {
    let params = crate::form::OAuthParams::from_form_body(headers, body).unwrap_or_default();
    let valid = is_valid(
        &state.csrf_key,
        headers,
        params.get("csrf_token"),
        state.settings.secure_cookies(),
    );
    (params, valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn key() -> MacKey {
        portcullis_jose::KeyEncryptionKey::generate()
            .and_then(|kek| kek.derive_mac_key("csrf"))
            .unwrap_or_else(|error| panic!("{error}"))
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(cookie) = HeaderValue::from_str(&format!("portcullis_csrf={value}")) {
            headers.insert(header::COOKIE, cookie);
        }
        headers
    }

    #[test]
    fn only_tokens_this_server_minted_are_adopted_or_accepted() {
        let key = key();
        let (token, cookie) = token_for(&key, &HeaderMap::new(), false);
        assert!(cookie.is_some(), "a new browser gets a cookie");
        let browser = with_cookie(&token);
        assert_eq!(
            token_for(&key, &browser, false),
            (token.clone(), None),
            "kept"
        );
        assert!(is_valid(&key, &browser, Some(&token), false));
        assert!(!is_valid(&key, &browser, Some("other"), false));
        // A planted value, however long, is neither adopted nor accepted.
        let planted = "a".repeat(43);
        let attacker = with_cookie(&planted);
        let (fresh, cookie) = token_for(&key, &attacker, false);
        assert!(
            cookie.is_some() && fresh != planted,
            "replaced, not adopted"
        );
        assert!(!is_valid(&key, &attacker, Some(&planted), false));
        let forged = format!(
            "{}.{}",
            base64url::encode([1u8; 32]),
            base64url::encode([2u8; 32])
        );
        assert!(!is_valid(&key, &with_cookie(&forged), Some(&forged), false));
        assert!(
            !is_valid(&self::key(), &browser, Some(&token), false),
            "another deployment's key"
        );
    }
}
