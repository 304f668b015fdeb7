//! The auth server's cookies. All are host-only (no `Domain`), `HttpOnly`, `Path=/`, and `Secure`
//! whenever the issuer is https.
//!
//! * `portcullis_session`: the session secret, `SameSite=Lax` so the session survives the
//!   top-level redirect back from a client to `/authorize`.
//! * `portcullis_csrf`: the double-submit CSRF secret, `SameSite=Strict`; every form carries the
//!   same value in a hidden field, and a cross-site page can neither read nor set it.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "portcullis_session";
/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "portcullis_csrf";

/// The value of cookie `name` in the request, if present exactly once.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned());
    let first = values.next()?;
    // Two cookies of the same name mean someone planted one (e.g. from a sibling subdomain).
    values.next().is_none().then_some(first)
}

fn build(
    name: &str,
    value: String,
    same_site: SameSite,
    max_age_secs: i64,
    secure: bool,
) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .secure(secure)
        .same_site(same_site)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(secret: String, max_age_secs: i64, secure: bool) -> HeaderValue {
    build(SESSION_COOKIE, secret, SameSite::Lax, max_age_secs, secure)
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    build(SESSION_COOKIE, String::new(), SameSite::Lax, 0, secure)
}

/// `Set-Cookie` for the CSRF secret (one day).
pub fn csrf_cookie(secret: String, secure: bool) -> HeaderValue {
    build(CSRF_COOKIE, secret, SameSite::Strict, 24 * 60 * 60, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_locked_down_and_read_back() {
        let set = session_cookie("abc".into(), 60, true);
        let text = set.to_str().unwrap_or_default();
        for attribute in [
            "portcullis_session=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(text.contains(attribute), "{text} lacks {attribute}");
        }
        assert!(!text.contains("Domain"), "host-only");
        assert!(
            csrf_cookie("x".into(), false)
                .to_str()
                .unwrap_or_default()
                .contains("SameSite=Strict")
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; portcullis_session=s3cret"),
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE).as_deref(),
            Some("s3cret")
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("portcullis_session=planted"),
        );
        assert_eq!(
            read_cookie(&headers, SESSION_COOKIE),
            None,
            "duplicates are refused"
        );
    }
}
