//! Identity headers: what the gateway strips from every request, and what it asserts after a
//! token was validated. The identity itself is the SDK's [`Identity`], so gateway and services
//! read tokens the same way.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
pub use portcullis_sdk::{IDENTITY_HEADER_PREFIX, Identity};

/// A verified token's identity with the headers that assert it to a backend, made once per
/// token: the verified-token cache holds it, so a cached token's requests copy no strings.
#[derive(Debug)]
pub struct AssertedIdentity {
    /// The identity.
    pub identity: Identity,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl AssertedIdentity {
    /// The identity and its headers.
    pub fn new(identity: Identity) -> Self {
        let headers = [
            ("x-portcullis-subject", identity.subject.clone()),
            ("x-portcullis-client", identity.client_id.clone()),
            ("x-portcullis-scopes", identity.scopes.join(" ")),
            ("x-portcullis-roles", identity.roles.join(",")),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::try_from(value).ok()?,
            ))
        })
        .collect();
        AssertedIdentity { identity, headers }
    }

    /// Adds the identity headers a backend may trust.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name, value.clone());
        }
    }
}

/// Removes every `X-Portcullis-*` header and the configured extra names: a client must never be
/// able to assert an identity (this runs before anything else looks at the request).
pub fn strip_spoofable_headers(headers: &mut HeaderMap, extra: &[HeaderName]) {
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(IDENTITY_HEADER_PREFIX) || extra.contains(name))
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_become_headers_and_spoofed_ones_go() {
        let claims = json!({"iss":"i","sub":"u1","client_id":"app","scope":"a b","roles":["admin","user"],"aud":"api","exp":9,"sid":"s"});
        let identity = AssertedIdentity::new(
            Identity::from_claims(claims.as_object().expect("object")).expect("identity"),
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-portcullis-subject", HeaderValue::from_static("forged"));
        headers.insert("X-Portcullis-Anything", HeaderValue::from_static("forged"));
        headers.insert("x-user-id", HeaderValue::from_static("forged"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        strip_spoofable_headers(&mut headers, &[HeaderName::from_static("x-user-id")]);
        assert_eq!(headers.len(), 1);
        identity.write_headers(&mut headers);
        assert_eq!(headers["x-portcullis-subject"], "u1");
        assert_eq!(headers["x-portcullis-scopes"], "a b");
        assert_eq!(headers["x-portcullis-roles"], "admin,user");
        let hostile = json!({"iss":"i","sub":"u\r\nx-portcullis-roles: admin","exp":9});
        assert!(Identity::from_claims(hostile.as_object().expect("object")).is_none());
    }
}
