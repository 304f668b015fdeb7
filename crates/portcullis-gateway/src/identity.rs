//! Identity headers: what the gateway strips from every request, and what it asserts after a
//! token was validated. The identity itself is the SDK's [`Identity`], so gateway and services
//! read tokens the same way.

use crate::config::UnderscoreHeaders;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_core::TrustedProxies;
use portcullis_core::personal_access_token::NETWORKS_MEMBER;
pub use portcullis_sdk::{IDENTITY_HEADER_PREFIX, Identity};

/// Every identity header the gateway may assert, lower case.
pub const IDENTITY_HEADERS: [&str; 9] = [
    "x-portcullis-issuer",
    "x-portcullis-subject",
    "x-portcullis-username",
    "x-portcullis-client",
    "x-portcullis-scopes",
    "x-portcullis-roles",
    "x-portcullis-acr",
    "x-portcullis-amr",
    "x-portcullis-auth-time",
];

/// A verified token's identity with the headers that assert it to a backend, made once per
/// token: the verified-token cache holds it, so a cached token's requests copy no strings.
#[derive(Debug)]
pub struct AssertedIdentity {
    /// The identity.
    pub identity: Identity,
    /// How the token is bound to its client (RFC 9449 §6.1), read once.
    pub binding: TokenBinding,
    /// The networks the token may be used from (`portcullis_networks`, as Portcullis's
    /// introspection answers for personal access tokens); `None`: any. A malformed list
    /// allows no network.
    pub networks: Option<TrustedProxies>,
    /// Whether `aud` holds the audience configured for the token's issuer (what a route
    /// without its own `audience` or `resource` requires), decided once per token.
    pub carries_issuer_audience: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// How a token is bound to its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenBinding {
    /// Not at all: a bearer token.
    Bearer,
    /// To the DPoP key of this JWK thumbprint (`cnf.jkt`).
    Dpop(String),
    /// In a way the gateway cannot check (a certificate's, a malformed `cnf`).
    Unsupported,
}

impl AssertedIdentity {
    /// The identity and its headers; it does not count as carrying its issuer's audience
    /// until [`crate::authenticate`] says so.
    pub fn new(identity: Identity) -> Self {
        // How the user signed in is asserted only when the token says it (a service's own token
        // has none); the identity headers always.
        let authentication = [
            ("x-portcullis-acr", identity.acr().map(str::to_owned)),
            (
                "x-portcullis-amr",
                Some(identity.amr().join(" ")).filter(|amr| !amr.is_empty()),
            ),
            (
                "x-portcullis-auth-time",
                identity.auth_time().map(|time| time.to_string()),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)));
        let headers = [
            // Which issuer vouches for the rest: two issuers' `sub` or client ids may coincide.
            ("x-portcullis-issuer", identity.issuer.clone()),
            ("x-portcullis-subject", identity.subject.clone()),
            (
                "x-portcullis-username",
                identity.username.clone().unwrap_or_default(),
            ),
            ("x-portcullis-client", identity.client_id.clone()),
            ("x-portcullis-scopes", identity.scopes.join(" ")),
            ("x-portcullis-roles", identity.roles.join(",")),
        ]
        .into_iter()
        .chain(authentication)
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::try_from(value).ok()?,
            ))
        })
        .collect();
        let binding = match (identity.is_sender_constrained(), identity.dpop_jkt()) {
            (false, _) => TokenBinding::Bearer,
            (true, Some(jkt)) => TokenBinding::Dpop(jkt.to_owned()),
            (true, None) => TokenBinding::Unsupported,
        };
        let networks = identity.claims.get(NETWORKS_MEMBER).map(|networks| {
            networks
                .as_array()
                .and_then(|list| {
                    let entries: Option<Vec<&str>> =
                        list.iter().map(serde_json::Value::as_str).collect();
                    TrustedProxies::parse(&entries?).ok()
                })
                .unwrap_or_default()
        });
        AssertedIdentity {
            identity,
            binding,
            networks,
            carries_issuer_audience: false,
            headers,
        }
    }

    /// Adds the identity headers a backend may trust.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.insert(name, value.clone());
        }
    }
}

/// Every identity header `identity` asserts, and each other one empty: what a proxy in front
/// copies onto its request overwrites whatever the client sent under those names, even where
/// the identity has no value (or there is none: a public route).
pub fn write_every_identity_header(identity: Option<&AssertedIdentity>, headers: &mut HeaderMap) {
    if let Some(identity) = identity {
        identity.write_headers(headers);
    }
    for name in IDENTITY_HEADERS {
        if !headers.contains_key(name) {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(""));
        }
    }
}

/// A request header name with `_`, refused under [`UnderscoreHeaders::Reject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnderscoreHeader;

/// Whether `name` (lower case, as header names are kept) is an identity header or one of `extra`
/// once every `_` is read as `-`, as a CGI-style backend reads it (RFC 3875 §4.1.18).
fn is_spoofable(name: &str, extra: &[HeaderName]) -> bool {
    let folded: std::borrow::Cow<'_, str> = if name.contains('_') {
        name.replace('_', "-").into()
    } else {
        name.into()
    };
    folded.starts_with(IDENTITY_HEADER_PREFIX) || extra.iter().any(|strip| strip == folded.as_ref())
}

/// Removes every `X-Portcullis-*` header and the configured extra names, in any spelling with `_`
/// for `-`, and the other names with `_` as `underscores` says: a client must never be able to
/// assert an identity (this runs before anything else looks at the request). `extra` is in lower
/// case with `-`.
///
/// # Errors
/// [`UnderscoreHeader`] when `underscores` is [`UnderscoreHeaders::Reject`] and a name has `_`.
pub fn strip_spoofable_headers(
    headers: &mut HeaderMap,
    extra: &[HeaderName],
    underscores: UnderscoreHeaders,
) -> Result<(), UnderscoreHeader> {
    let mut spoofable = Vec::new();
    for name in headers.keys() {
        let underscore = name.as_str().contains('_');
        if underscore && underscores == UnderscoreHeaders::Reject {
            return Err(UnderscoreHeader);
        }
        if (underscore && underscores == UnderscoreHeaders::Drop)
            || is_spoofable(name.as_str(), extra)
        {
            spoofable.push(name.clone());
        }
    }
    for name in spoofable {
        headers.remove(&name);
    }
    Ok(())
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
        let extra = [HeaderName::from_static("x-user-id")];
        strip_spoofable_headers(&mut headers, &extra, UnderscoreHeaders::Drop).expect("drop");
        assert_eq!(headers.len(), 1);
        identity.write_headers(&mut headers);
        assert_eq!(headers["x-portcullis-subject"], "u1");
        assert_eq!(headers["x-portcullis-scopes"], "a b");
        assert_eq!(headers["x-portcullis-roles"], "admin,user");
        let signed_in = json!({"iss":"i","sub":"u1","client_id":"app","exp":9,"acr":"mfa","amr":["pwd","otp"],"auth_time":5});
        let mut every = HeaderMap::new();
        write_every_identity_header(
            Some(&AssertedIdentity::new(
                Identity::from_claims(signed_in.as_object().expect("object")).expect("identity"),
            )),
            &mut every,
        );
        assert_eq!(every.len(), IDENTITY_HEADERS.len(), "{every:?}");
        assert_eq!(every["x-portcullis-auth-time"], "5");
        assert_eq!(every["x-portcullis-roles"], "");
        let hostile = json!({"iss":"i","sub":"u\r\nx-portcullis-roles: admin","exp":9});
        assert!(Identity::from_claims(hostile.as_object().expect("object")).is_none());
    }

    #[test]
    fn underscore_spellings_of_stripped_headers_go_under_every_policy() {
        let extra = [HeaderName::from_static("x-user-id")];
        let spellings = [
            "x_portcullis_subject",
            "X_Portcullis_Roles",
            "x-portcullis_scopes",
            "X_User_Id",
            "x-user_id",
        ];
        for policy in [UnderscoreHeaders::Drop, UnderscoreHeaders::Allow] {
            let mut headers = HeaderMap::new();
            for name in spellings {
                headers.insert(
                    HeaderName::from_bytes(name.as_bytes()).expect("name"),
                    HeaderValue::from_static("forged"),
                );
            }
            headers.insert("x_trace_id", HeaderValue::from_static("t"));
            headers.insert("accept", HeaderValue::from_static("*/*"));
            strip_spoofable_headers(&mut headers, &extra, policy).expect("not refused");
            let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
            left.sort_unstable();
            let expected: &[&str] = match policy {
                UnderscoreHeaders::Allow => &["accept", "x_trace_id"],
                _ => &["accept"],
            };
            assert_eq!(left, expected, "{policy:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("x_trace_id", HeaderValue::from_static("t"));
        assert_eq!(
            strip_spoofable_headers(&mut headers, &extra, UnderscoreHeaders::Reject),
            Err(UnderscoreHeader)
        );
    }
}
