//! Double-submit CSRF protection for the HTML forms.

use crate::cookies::{CSRF_COOKIE, csrf_cookie, read_cookie};
use axum::http::{HeaderMap, HeaderValue};
use portcullis_core::generate_secret;

/// The CSRF token to embed in a form, and the `Set-Cookie` to send if the browser has none yet.
pub fn token_for(headers: &HeaderMap, secure: bool) -> (String, Option<HeaderValue>) {
    if let Some(existing) = read_cookie(headers, CSRF_COOKIE).filter(|value| value.len() >= 32) {
        return (existing, None);
    }
    let token = generate_secret(32).unwrap_or_default();
    let cookie = csrf_cookie(token.clone(), secure);
    (token, Some(cookie))
}

/// Whether the form's token matches the cookie (both present, constant-time comparison).
pub fn is_valid(headers: &HeaderMap, form_token: Option<&str>) -> bool {
    match (read_cookie(headers, CSRF_COOKIE), form_token) {
        (Some(cookie), Some(form)) if cookie.len() >= 32 => {
            portcullis_jose::constant_time_eq(cookie.as_bytes(), form.as_bytes())
        }
        _ => false,
    }
}
