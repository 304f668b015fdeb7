//! Host-only cookies as Portcullis sets them (the auth server's and the gateway's): `HttpOnly`,
//! `Path=/`, no `Domain`, and, over https, `Secure` with the `__Host-` name prefix (RFC 6265bis
//! §4.1.3.2): a browser then accepts the cookie only from this host over https, so neither a
//! sibling subdomain nor a plain-http attacker can plant or overwrite one.

use cookie::Cookie;
pub use cookie::SameSite;

/// The name a cookie goes by: `__Host-<base>` when `secure`.
pub fn cookie_name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The value of cookie `base` (under its name for `secure`) among the `Cookie` header values
/// `headers`, if present exactly once: two cookies of one name mean someone planted one (e.g.
/// from a sibling subdomain).
pub fn read_cookie<'a>(
    headers: impl Iterator<Item = &'a str>,
    base: &str,
    secure: bool,
) -> Option<String> {
    let name = cookie_name(base, secure);
    let mut values = headers
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned());
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// A `Set-Cookie` value: cookie `base` (named for `secure`) holding `value` for `max_age_secs`
/// (0 deletes it).
pub fn set_cookie(
    base: &str,
    value: String,
    same_site: SameSite,
    max_age_secs: i64,
    secure: bool,
) -> String {
    Cookie::build((cookie_name(base, secure), value))
        .http_only(true)
        .secure(secure)
        .same_site(same_site)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
        .to_string()
}

/// The `Cookie` header value `header` without the cookies named in `names` (the rest byte for
/// byte as sent); `None` when nothing is left.
pub fn without_cookies(header: &str, names: &[String]) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name).trim();
            !names.iter().any(|named| named == name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_locked_down_read_back_and_removed() {
        let set = set_cookie("s", "abc".into(), SameSite::Lax, 60, true);
        for attribute in [
            "__Host-s=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(set.contains(attribute), "{set} lacks {attribute}");
        }
        assert!(!set.contains("Domain"), "host-only");
        let plain = set_cookie("s", "x".into(), SameSite::Strict, 0, false);
        assert!(plain.starts_with("s=x") && !plain.contains("Secure"));
        let sent = ["a=1; __Host-s=s3cret; s=p"];
        assert_eq!(
            read_cookie(sent.into_iter(), "s", true).as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            read_cookie(sent.into_iter(), "s", false).as_deref(),
            Some("p")
        );
        let planted = ["__Host-s=s3cret", "__Host-s=planted"];
        assert_eq!(
            read_cookie(planted.into_iter(), "s", true),
            None,
            "duplicates"
        );
        let names = ["__Host-s".to_owned()];
        assert_eq!(
            without_cookies("a=1;__Host-s=x; b=\"2\"", &names).as_deref(),
            Some("a=1; b=\"2\"")
        );
        assert_eq!(without_cookies(" __Host-s=x ", &names), None);
    }
}
