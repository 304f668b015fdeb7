//! A sign-in half done: the first factor (a password or an upstream provider) was proven and a second factor (or setting one up) is still
//! due. It lives in a five-minute cookie tagged with a key derived from the key-encryption key,
//! so every server of a cluster accepts it and nobody can forge or alter one. It names the user
//! and the methods proven so far, never a secret; the session starts only once the second
//! factor is proven, under a new cookie.

use crate::cookies::{PENDING_COOKIE, clear_pending_cookie, pending_cookie, read_cookie};
use axum::http::{HeaderMap, HeaderValue};
use portcullis_core::{AuthMethods, UnixSeconds};
use portcullis_jose::{MacKey, base64url};

/// How long the second step may take.
pub const PENDING_LIFETIME_SECS: i64 = 5 * 60;

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    /// The user whose password was right.
    pub user_id: String,
    /// The methods proven so far.
    pub amr: AuthMethods,
    /// The upstream provider of the first factor, if the user signed in through one.
    pub identity_provider: Option<String>,
    /// When the first factor was proven (the session's `auth_time` once complete).
    pub started_at: UnixSeconds,
}

fn payload(pending: &PendingSignIn) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        pending.user_id,
        pending.amr,
        pending.started_at,
        pending.identity_provider.as_deref().unwrap_or_default()
    )
}

fn tagged(payload: &str) -> Vec<u8> {
    format!("portcullis pending sign-in v2\n{payload}").into_bytes()
}

/// `Set-Cookie` carrying `pending`.
pub fn cookie(key: &MacKey, pending: &PendingSignIn, secure: bool) -> HeaderValue {
    let payload = payload(pending);
    let tag = key.tag(&tagged(&payload));
    let value = format!("{}.{}", base64url::encode(&payload), base64url::encode(tag));
    pending_cookie(value, PENDING_LIFETIME_SECS, secure)
}

/// `Set-Cookie` ending the pending sign-in.
pub fn clear(secure: bool) -> HeaderValue {
    clear_pending_cookie(secure)
}

/// The request's pending sign-in, if its cookie is genuine and not expired at `now`.
pub fn read(
    key: &MacKey,
    headers: &HeaderMap,
    now: UnixSeconds,
    secure: bool,
) -> Option<PendingSignIn> {
    let value = read_cookie(headers, PENDING_COOKIE, secure)?;
    let (payload, tag) = value.split_once('.')?;
    let payload = String::from_utf8(base64url::decode(payload)?).ok()?;
    if !key.verify(&tagged(&payload), &base64url::decode(tag)?) {
        return None;
    }
    let mut parts = payload.split('\n');
    let user_id = parts.next()?.to_owned();
    let amr = AuthMethods::parse(parts.next()?);
    let started_at: UnixSeconds = parts.next()?.parse().ok()?;
    let identity_provider = Some(parts.next()?.to_owned()).filter(|id| !id.is_empty());
    let live = now >= started_at && now < started_at + PENDING_LIFETIME_SECS;
    (live && parts.next().is_none()).then_some(PendingSignIn {
        user_id,
        amr,
        identity_provider,
        started_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn request_with(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie
            .to_str()
            .expect("ascii")
            .split(';')
            .next()
            .expect("pair")
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&pair).expect("value"));
        headers
    }

    #[test]
    fn a_genuine_cookie_reads_back_until_it_expires() {
        let key = MacKey::random().expect("key");
        let pending = PendingSignIn {
            user_id: "u1".into(),
            amr: AuthMethods::federated(),
            identity_provider: Some("corp".into()),
            started_at: 1000,
        };
        let headers = request_with(&cookie(&key, &pending, true));
        assert_eq!(read(&key, &headers, 1000, true), Some(pending.clone()));
        assert_eq!(
            read(&key, &headers, 1000 + PENDING_LIFETIME_SECS, true),
            None
        );
        assert_eq!(read(&key, &headers, 999, true), None);
        // Another server key, or the cookie under its plain-http name: nothing.
        assert_eq!(
            read(&MacKey::random().expect("key"), &headers, 1000, true),
            None
        );
        assert_eq!(read(&key, &headers, 1000, false), None);
    }

    #[test]
    fn an_altered_cookie_is_refused() {
        let key = MacKey::random().expect("key");
        let pending = PendingSignIn {
            user_id: "u1".into(),
            amr: AuthMethods::password(),
            identity_provider: None,
            started_at: 1000,
        };
        let set = cookie(&key, &pending, false);
        let value = set.to_str().expect("ascii");
        let (_, tag) = value
            .split(';')
            .next()
            .and_then(|pair| pair.split_once('.'))
            .expect("tagged");
        let forged = format!(
            "portcullis_pending={}.{tag}",
            base64url::encode("u2\npwd otp mfa\n1000")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&forged).expect("value"),
        );
        assert_eq!(read(&key, &headers, 1000, false), None);
    }
}
