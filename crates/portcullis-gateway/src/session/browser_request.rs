//! What a browser's request says about itself: whether it is a page navigation (sent to sign
//! in) or an API call (answered 401), and whether it comes from this site (CSRF).

use axum::http::{HeaderMap, Method, header};

/// Whether the request is a top-level page load a person would follow to a sign-in page: `GET`
/// or `HEAD`, asking for HTML, not a script's request (`X-Requested-With`, `Sec-Fetch-Mode`
/// other than `navigate`).
pub fn is_navigation(method: &Method, headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.to_ascii_lowercase().contains("text/html"));
    (method == Method::GET || method == Method::HEAD)
        && wants_html
        && text("x-requested-with").is_none()
        && text("sec-fetch-mode").is_none_or(|mode| mode.eq_ignore_ascii_case("navigate"))
}

/// Whether the request may change something or holds a connection open (an upgrade, such as
/// a WebSocket, is not protected by the same-origin policy): what a session may do only for
/// this site.
pub fn is_unsafe(method: &Method, headers: &HeaderMap) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
        || headers.contains_key(header::UPGRADE)
}

/// Where a request comes from.
pub struct TrustedOrigins<'a> {
    /// This gateway's origin (`public_url`).
    pub own: &'a str,
    /// Other origins allowed to use sessions.
    pub allowed: &'a [String],
}

impl TrustedOrigins<'_> {
    /// Whether a request that uses a session unsafely comes from this site: a browser's
    /// `Sec-Fetch-Site: same-origin`, or an `Origin` that is ours or allowed. Without either,
    /// it is refused (every browser sends `Origin` on such requests).
    pub fn allows_unsafe_use(&self, headers: &HeaderMap) -> bool {
        if let Some(origin) = headers.get(header::ORIGIN) {
            // An `Origin` decides; `null` (sandboxed, privacy-redirected) is no origin of ours.
            let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
            return self.own.eq_ignore_ascii_case(origin)
                || self
                    .allowed
                    .iter()
                    .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin));
        }
        headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"same-origin"))
    }

    /// Whether a request may end the session (a logout): a `POST` as any unsafe request; a
    /// `GET` (a link, a typed URL, a bookmark) only when the browser says it comes from this
    /// origin or from the user (`Sec-Fetch-Site: same-origin` or `none`), never from an image
    /// or frame of another page.
    pub fn allow_logout(&self, method: &Method, headers: &HeaderMap) -> bool {
        if method != Method::GET {
            return self.allows_unsafe_use(headers);
        }
        let from_user = headers.get("sec-fetch-site").is_some_and(|site| {
            let site = site.as_bytes();
            site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none")
        });
        let foreign_origin =
            headers.contains_key(header::ORIGIN) && !self.allows_unsafe_use(headers);
        from_user && !foreign_origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn page_loads_are_told_from_scripts() {
        let page = headers(&[("accept", "text/html,application/xhtml+xml;q=0.9")]);
        assert!(is_navigation(&Method::GET, &page));
        assert!(!is_navigation(&Method::POST, &page));
        for script in [
            headers(&[("accept", "application/json")]),
            headers(&[("accept", "*/*")]),
            headers(&[
                ("accept", "text/html"),
                ("x-requested-with", "XMLHttpRequest"),
            ]),
            headers(&[("accept", "text/html"), ("sec-fetch-mode", "cors")]),
        ] {
            assert!(!is_navigation(&Method::GET, &script), "{script:?}");
        }
        assert!(is_unsafe(&Method::DELETE, &HeaderMap::new()));
        assert!(is_unsafe(
            &Method::GET,
            &headers(&[("upgrade", "websocket")])
        ));
        assert!(!is_unsafe(&Method::GET, &HeaderMap::new()));
    }

    #[test]
    fn only_this_site_may_use_a_session_unsafely() {
        let allowed = ["https://app.example.com/".to_owned()];
        let origins = TrustedOrigins {
            own: "https://gw.example.com",
            allowed: &allowed,
        };
        for ours in [
            headers(&[("origin", "https://gw.example.com")]),
            headers(&[("origin", "https://app.example.com")]),
            headers(&[("sec-fetch-site", "same-origin")]),
        ] {
            assert!(origins.allows_unsafe_use(&ours), "{ours:?}");
            assert!(origins.allow_logout(&Method::POST, &ours));
        }
        for foreign in [
            headers(&[("origin", "https://evil.example")]),
            headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            HeaderMap::new(),
        ] {
            assert!(!origins.allows_unsafe_use(&foreign), "{foreign:?}");
        }
        let get = |pairs| origins.allow_logout(&Method::GET, &headers(pairs));
        assert!(get(&[("sec-fetch-site", "none")]), "a typed URL");
        assert!(
            get(&[("sec-fetch-site", "same-origin")]),
            "a link of the app"
        );
        for foreign in [
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")],
            &[
                ("sec-fetch-site", "none"),
                ("origin", "https://evil.example"),
            ],
            &[],
        ] {
            assert!(!get(foreign), "{foreign:?}");
        }
        assert!(!origins.allow_logout(&Method::POST, &HeaderMap::new()));
    }
}
