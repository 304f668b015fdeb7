//! Web origins (RFC 6454): where a browser says a request comes from, compared with the origins a
//! state-changing endpoint accepts.

use axum::http::Uri;

/// The origin of an absolute `http(s)` URL, serialized as a browser sends it in `Origin`
/// (RFC 6454 §6.2): `scheme://host[:port]`, lower case, without the scheme's default port.
pub fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_serialized_as_browsers_send_them() {
        assert_eq!(
            origin_of("http://127.0.0.1:3000/realm").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(
            origin_of("HTTPS://Auth.Example:443").as_deref(),
            Some("https://auth.example")
        );
        assert_eq!(
            origin_of("https://[::1]:8443").as_deref(),
            Some("https://[::1]:8443")
        );
        for bad in ["ftp://x", "/relative", "https://user@host", "null"] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }
}
