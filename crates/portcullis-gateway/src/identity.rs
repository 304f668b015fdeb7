//! The identity extracted from a validated access token, and the trusted headers it becomes.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// The prefix of every header the gateway asserts; clients can never send one through.
pub const IDENTITY_HEADER_PREFIX: &str = "x-portcullis-";

/// Who the request is from, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `iss`
    pub issuer: String,
    /// `sub`
    pub subject: String,
    /// `client_id`
    pub client_id: String,
    /// `scope`, split.
    pub scopes: Vec<String>,
    /// `roles`
    pub roles: Vec<String>,
    /// `aud`
    pub audiences: Vec<String>,
    /// `jti`
    pub token_id: Option<String>,
    /// `sid`
    pub session_id: Option<String>,
    /// `exp`
    pub expires_at: i64,
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl Identity {
    /// Reads the claims of a validated token. `None` if a claim the gateway forwards could not be
    /// carried in a header (control characters) or `sub` is missing.
    pub fn from_claims(claims: &Map<String, Value>) -> Option<Self> {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let identity = Identity {
            issuer: text("iss")?,
            subject: text("sub")?,
            client_id: text("client_id").unwrap_or_default(),
            scopes: text("scope")
                .map(|scope| {
                    scope
                        .split(' ')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            roles: strings(claims.get("roles")),
            audiences: strings(claims.get("aud")),
            token_id: text("jti"),
            session_id: text("sid"),
            expires_at: claims.get("exp").and_then(Value::as_i64)?,
        };
        let printable = |value: &str| value.bytes().all(|byte| (0x20..0x7f).contains(&byte));
        let all_printable = printable(&identity.subject)
            && printable(&identity.client_id)
            && identity
                .scopes
                .iter()
                .chain(&identity.roles)
                .all(|value| printable(value) && !value.contains(','));
        all_printable.then_some(identity)
    }

    /// Adds the identity headers a backend may trust.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        set("x-portcullis-subject", self.subject.clone());
        set("x-portcullis-client", self.client_id.clone());
        set("x-portcullis-scopes", self.scopes.join(" "));
        set("x-portcullis-roles", self.roles.join(","));
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
        let identity =
            Identity::from_claims(claims.as_object().expect("object")).expect("identity");
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
