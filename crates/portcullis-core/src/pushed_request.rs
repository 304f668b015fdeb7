//! Pushed authorization requests (RFC 9126): a client posts its authorization request's
//! parameters to the server first and sends the browser to `/authorize` with only its
//! `client_id` and the `request_uri` it got back, so the parameters never travel through the
//! browser, where they could be read or changed.

use crate::UnixSeconds;

/// What every `request_uri` starts with (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for the browser to bring its `request_uri` to `/authorize`.
pub const PUSHED_REQUEST_LIFETIME_SECS: i64 = 90;
/// How long an opened request stays usable (the user signing in and consenting); it ends
/// earlier, once its authorization request is answered.
pub const OPENED_REQUEST_LIFETIME_SECS: i64 = 10 * 60;
/// Largest pushed request kept, in bytes of its parameters.
pub const MAX_PUSHED_BYTES: usize = 8 * 1024;
/// Unexpired pushed requests one confidential client may have at once.
pub const MAX_PENDING_PER_CLIENT: u64 = 1000;
/// Unexpired pushed requests of one public client from one address: a public client needs no
/// secret to push, so its requests are counted per address, where nobody can fill them for
/// everyone.
pub const MAX_PENDING_PER_ADDRESS: u64 = 20;
/// Parameters of a push that authenticate the client and are not kept with the request.
pub const CLIENT_AUTHENTICATION_PARAMETERS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

/// A pushed request as stored: under a digest of its reference, never the reference itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequestRecord {
    /// SHA-256 of the reference (base64url).
    pub reference_hash: String,
    /// The client that pushed it (RFC 9126 §4: only it may use it).
    pub client_id: String,
    /// For a public client, the address it was pushed from (empty for a confidential one): the
    /// pending requests counted together.
    pub pushed_by: String,
    /// The parameters, as a JSON array of `[name, value]` pairs.
    pub parameters: String,
    /// When it expires.
    pub expires_at: UnixSeconds,
}

/// A pushed request being used at `/authorize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPushedRequest {
    /// The parameters, as stored.
    pub parameters: String,
    /// When it was first opened: a sign-in since then satisfies its `prompt=login`.
    pub opened_at: UnixSeconds,
}

/// The reference of a `request_uri` this server made, if it is one.
pub fn reference(request_uri: &str) -> Option<&str> {
    request_uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|reference| {
            (16..=64).contains(&reference.len())
                && reference
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_servers_request_uris_have_a_reference() {
        let reference_part = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        assert_eq!(
            reference(&format!("{REQUEST_URI_PREFIX}{reference_part}")),
            Some(reference_part)
        );
        for foreign in [
            "https://client.example/request.jwt",
            "urn:ietf:params:oauth:request_uri:short",
            "urn:ietf:params:oauth:request_uri:AbCdEfGhIjKlMnOp/../x",
            "urn:example:AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        ] {
            assert_eq!(reference(foreign), None, "{foreign}");
        }
    }
}
