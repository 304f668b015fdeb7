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
/// from a sibling subdomain). Another cookie's bytes that are not UTF-8 do not hide it.
pub fn read_cookie<'a>(
    headers: impl Iterator<Item = &'a [u8]>,
    base: &str,
    secure: bool,
) -> Option<String> {
    let name = cookie_name(base, secure);
    let mut values = headers.map(String::from_utf8_lossy).flat_map(|header| {
        Cookie::split_parse(header.into_owned())
            .filter_map(Result::ok)
            .filter(|cookie| cookie.name() == name)
            .map(|cookie| cookie.value().to_owned())
            .collect::<Vec<_>>()
    });
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

/// The `Cookie` header value `header` without the cookies named in `names` (the others byte
/// for byte as sent, whatever their bytes); `None` when nothing is left.
pub fn without_cookies(header: &[u8], names: &[String]) -> Option<Vec<u8>> {
    let kept: Vec<&[u8]> = header
        .split(|byte| *byte == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair
                .iter()
                .position(|byte| *byte == b'=')
                .map_or(*pair, |end| &pair[..end])
                .trim_ascii();
            !names.iter().any(|named| named.as_bytes() == name)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(&b"; "[..]))
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
        let sent: [&[u8]; 1] = [b"a=\xe9t\xe9; __Host-s=s3cret; s=p"];
        assert_eq!(
            read_cookie(sent.into_iter(), "s", true).as_deref(),
            Some("s3cret"),
            "another cookie's Latin-1 bytes do not hide it"
        );
        assert_eq!(
            read_cookie(sent.into_iter(), "s", false).as_deref(),
            Some("p")
        );
        let planted: [&[u8]; 2] = [b"__Host-s=s3cret", b"__Host-s=planted"];
        assert_eq!(
            read_cookie(planted.into_iter(), "s", true),
            None,
            "duplicates"
        );
        let names = ["__Host-s".to_owned()];
        assert_eq!(
            without_cookies(b"a=\xe9;__Host-s=x; b=\"2\"", &names).as_deref(),
            Some(&b"a=\xe9; b=\"2\""[..]),
            "the others byte for byte"
        );
        assert_eq!(without_cookies(b" __Host-s=x ", &names), None);
    }
}
