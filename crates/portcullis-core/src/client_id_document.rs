//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-02): a client
//! whose `client_id` is an https URL describes itself in the JSON document at that URL, which
//! the server fetches instead of holding a registration. This module says which ids are such
//! URLs (§3), how long a fetched document is used (§5.2), and how pages name such a client
//! (§8.5: by the host that serves its document).

/// Longest document read (§8.7 recommends 5 kilobytes).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// Longest client id URL taken.
pub const MAX_URL_BYTES: usize = 255;
/// Shortest time a fetched document is used, whatever its caching headers say (§5.2 lets the
/// server set bounds): a client cannot make the server fetch on every request.
pub const MIN_CACHE_SECS: i64 = 60;
/// Longest time a fetched document is used before it is fetched again.
pub const MAX_CACHE_SECS: i64 = 24 * 60 * 60;
/// How long after its copy expired an unused client known by its document is kept (then
/// deleted, if it holds no live refresh token).
pub const STALE_CLIENT_SECS: i64 = 24 * 60 * 60;
/// How long a document without caching headers is used.
pub const DEFAULT_CACHE_SECS: i64 = 10 * 60;

/// Whether `id` is a client id URL in the form §3 requires: `https` (plain `http` too when
/// `allow_plain_http`, for a stack on one machine), no user part, a path without `.` or `..`
/// segments, no fragment. The id is compared as a plain string everywhere (§3: "simple string
/// comparison"), so nothing is normalised here either.
pub fn is_document_url(id: &str, allow_plain_http: bool) -> bool {
    if id.len() > MAX_URL_BYTES
        || !id.bytes().all(|byte| byte.is_ascii_graphic())
        || id.bytes().any(|byte| b"#\"<>\\^`{|}".contains(&byte))
    {
        return false;
    }
    let (rest, default_port) = match (id.strip_prefix("https://"), id.strip_prefix("http://")) {
        (Some(rest), _) => (rest, "443"),
        (None, Some(rest)) if allow_plain_http => (rest, "80"),
        _ => return false,
    };
    // §3: the URL MUST contain a path component; the authority ends at the first `/`.
    let Some((authority, path_and_query)) = rest.split_once('/') else {
        return false;
    };
    // One spelling per host, so the page shows what is fetched: no default port written out.
    if !is_plain_authority(authority) || split_host_port(authority).1 == Some(default_port) {
        return false;
    }
    let path = path_and_query.split('?').next().unwrap_or_default();
    // §3: MUST NOT contain single-dot or double-dot path segments (nor their encodings).
    !path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

/// A host as pages can show it unambiguously, with an optional port: a lower-case DNS name (no
/// percent-encoding, no upper case, no user part, nothing a browser or resolver would read
/// otherwise), an IPv4 address, or a bracketed IPv6 address.
fn is_plain_authority(authority: &str) -> bool {
    let (host, port) = split_host_port(authority);
    if port.is_some_and(|port| port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(literal) = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        return literal.parse::<std::net::Ipv6Addr>().is_ok();
    }
    // A numeric last label makes URL parsers read the host as an IPv4 address in some
    // spelling (`2130706433`, `0x7f.1`): only the dotted-quad spelling is taken.
    let numeric_tail = host
        .rsplit('.')
        .next()
        .is_some_and(|label| label.bytes().all(|b| b.is_ascii_digit()) || label.starts_with("0x"));
    if numeric_tail {
        return host.parse::<std::net::Ipv4Addr>().is_ok();
    }
    is_plain_host(host)
}

/// Whether `host` is a lower-case DNS name: labels of letters, digits and inner hyphens.
pub fn is_plain_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// An authority split into its host and its port, if it has one (an IPv6 literal keeps its
/// brackets).
pub fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    }
}

/// The host (with its port) serving the document of client `id`, as pages show it (§8.5).
pub fn host_of(id: &str) -> &str {
    id.split_once("://")
        .map_or(id, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
}

/// How long a document answered with `cache_control` is used (§5.2: per the HTTP caching
/// headers, RFC 9111 §5.2.2, within the server's bounds): `max-age`, else the default;
/// `no-store` and `no-cache` get the shortest time.
pub fn cache_lifetime_secs(cache_control: Option<&str>) -> i64 {
    let Some(value) = cache_control else {
        return DEFAULT_CACHE_SECS;
    };
    let mut lifetime = None;
    for directive in value.split(',') {
        let directive = directive.trim().to_ascii_lowercase();
        if directive == "no-store" || directive == "no-cache" {
            return MIN_CACHE_SECS;
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            let digits = seconds.trim_matches('"');
            // RFC 9111 §1.2.2: a delta too large to hold is taken as very large.
            lifetime = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                Some(digits.parse::<i64>().unwrap_or(i64::MAX))
            } else {
                None
            };
        }
    }
    lifetime
        .unwrap_or(DEFAULT_CACHE_SECS)
        .clamp(MIN_CACHE_SECS, MAX_CACHE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_urls_with_a_clean_path_are_client_id_urls() {
        for id in [
            "https://app.example.com/client.json",
            "https://app.example.com:8443/oauth/client",
            "https://app.example.com/",
            "https://app.example.com/client?version=2",
        ] {
            assert!(is_document_url(id, false), "{id}");
        }
        for id in [
            "my-client",
            "http://app.example.com/client.json",
            "https://app.example.com",
            "https://app.example.com?x=1",
            "https://user@app.example.com/client",
            "https://app.example.com/client#x",
            "https://app.example.com/a/../client",
            "https://app.example.com/a/./client",
            "https://app.example.com/a/%2E%2e/client",
            "https://app.example.com/client name",
            "https:///client",
            "ftp://app.example.com/client",
            "https://App.example.com/client",
            "https://claude.ai%2eevil.net/client",
            "https://app.example.com:/client",
            "https://app.example.com:80a/client",
            "https://-app.example.com/client",
            "https://app..example.com/client",
            "https://[::1/client",
            "https://app.example.com:443/client",
            "https://2130706433/client",
            "https://0x7f.1/client",
            "https://1.2.3/client",
        ] {
            assert!(!is_document_url(id, false), "{id}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(!is_document_url(&long, false));
    }

    #[test]
    fn plain_http_only_when_allowed() {
        assert!(is_document_url("http://127.0.0.1:9000/client.json", true));
        assert!(is_document_url("http://[::1]:9000/client.json", true));
        assert!(!is_document_url("http://127.0.0.1:80/client.json", true));
        assert!(
            is_document_url("https://127.0.0.1/client.json", false),
            "a dotted quad"
        );
        assert!(!is_document_url("http://127.0.0.1:9000/client.json", false));
    }

    #[test]
    fn pages_name_the_host() {
        assert_eq!(
            host_of("https://app.example.com:8443/oauth/client"),
            "app.example.com:8443"
        );
    }

    #[test]
    fn caching_headers_set_the_lifetime_within_bounds() {
        assert_eq!(cache_lifetime_secs(None), DEFAULT_CACHE_SECS);
        assert_eq!(cache_lifetime_secs(Some("public, max-age=3600")), 3600);
        assert_eq!(cache_lifetime_secs(Some("max-age=0")), MIN_CACHE_SECS);
        assert_eq!(
            cache_lifetime_secs(Some("max-age=99999999")),
            MAX_CACHE_SECS
        );
        assert_eq!(cache_lifetime_secs(Some("no-store")), MIN_CACHE_SECS);
        assert_eq!(
            cache_lifetime_secs(Some("max-age=600, No-Cache")),
            MIN_CACHE_SECS
        );
        assert_eq!(
            cache_lifetime_secs(Some("max-age=soon")),
            DEFAULT_CACHE_SECS
        );
    }
}
