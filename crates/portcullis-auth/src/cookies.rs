//! The auth server's cookies. All are host-only (no `Domain`), `HttpOnly`, `Path=/`, and, when
//! the issuer is https, `Secure` with the `__Host-` name prefix (RFC 6265bis §4.1.3.2): a browser
//! then accepts the cookie only from this host over https, so neither a sibling subdomain nor a
//! plain-http attacker can plant or overwrite one.
//!
//! * `portcullis_session`: the session secret, `SameSite=Lax` so the session survives the
//!   top-level redirect back from a client to `/authorize`.
//! * `portcullis_csrf`: the CSRF token (see [`crate::csrf`]), `SameSite=Strict`; every form
//!   carries the same value in a hidden field.
//! * `portcullis_pending`: a sign-in whose password was right and whose second factor is due
//!   (see [`crate::pending_sign_in`]), `SameSite=Strict`, five minutes.

use axum::http::{HeaderMap, HeaderValue, header};
pub use portcullis_core::cookies::cookie_name;
use portcullis_core::cookies::{SameSite, set_cookie};

/// Base name of the session cookie.
pub const SESSION_COOKIE: &str = "portcullis_session";
/// Base name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "portcullis_csrf";
/// Base name of the cookie of a sign-in waiting for its second factor.
pub const PENDING_COOKIE: &str = "portcullis_pending";

/// The value of cookie `base` (under its name for `secure`) in the request, if present exactly
/// once.
pub fn read_cookie(headers: &HeaderMap, base: &str, secure: bool) -> Option<String> {
    portcullis_core::cookies::read_cookie(
        headers
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes),
        base,
        secure,
    )
}

fn build(
    base: &str,
    value: String,
    same_site: SameSite,
    max_age_secs: i64,
    secure: bool,
) -> HeaderValue {
    HeaderValue::from_str(&set_cookie(base, value, same_site, max_age_secs, secure))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(secret: String, max_age_secs: i64, secure: bool) -> HeaderValue {
    build(SESSION_COOKIE, secret, SameSite::Lax, max_age_secs, secure)
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    build(SESSION_COOKIE, String::new(), SameSite::Lax, 0, secure)
}

/// `Set-Cookie` for a sign-in waiting for its second factor (`SameSite=Strict`: only this
/// server's own pages continue it).
pub fn pending_cookie(value: String, max_age_secs: i64, secure: bool) -> HeaderValue {
    build(
        PENDING_COOKIE,
        value,
        SameSite::Strict,
        max_age_secs,
        secure,
    )
}

/// `Set-Cookie` that deletes the pending sign-in cookie.
pub fn clear_pending_cookie(secure: bool) -> HeaderValue {
    build(PENDING_COOKIE, String::new(), SameSite::Strict, 0, secure)
}

/// `Set-Cookie` for the CSRF token (one day).
pub fn csrf_cookie(token: String, secure: bool) -> HeaderValue {
    build(CSRF_COOKIE, token, SameSite::Strict, 24 * 60 * 60, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_locked_down_and_read_back() {
        let set = session_cookie("abc".into(), 60, true);
        let text = set.to_str().unwrap_or_default();
        for attribute in [
            "__Host-portcullis_session=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(text.contains(attribute), "{text} lacks {attribute}");
        }
        assert!(!text.contains("Domain"), "host-only");
        let plain = csrf_cookie("x".into(), false);
        let plain = plain.to_str().unwrap_or_default();
        assert!(plain.starts_with("portcullis_csrf=x") && plain.contains("SameSite=Strict"));
        assert!(!plain.contains("Secure"), "no Secure over http");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-portcullis_session=s3cret; portcullis_session=p"),
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE, true).as_deref(),
            Some("s3cret"),
            "over https only the prefixed cookie counts"
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE, false).as_deref(),
            Some("p")
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-portcullis_session=planted"),
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE, true),
            None,
            "duplicates are refused"
        );
    }
}
