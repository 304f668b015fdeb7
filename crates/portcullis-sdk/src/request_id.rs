//! Request ids, as the gateway and the auth server assign them: a caller's own `X-Request-Id` is
//! kept when it is short and plain (so one trace can span services, and no id can inject into
//! logs), else a new one is made. A service behind the gateway can read the same header to
//! correlate its own logs.

use http::{HeaderMap, HeaderName, HeaderValue};
use std::cell::RefCell;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id: its own `X-Request-Id` when that is 1–128 characters of `[A-Za-z0-9-_.]`,
/// else a new random one (`unavailable` if the system's RNG fails).
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&X_REQUEST_ID)
        .filter(|value| is_plain(value.as_bytes()))
        .cloned()
        .or_else(random_request_id)
        .unwrap_or(HeaderValue::from_static("unavailable"))
}

/// Short and plain: safe to log and to pass on.
fn is_plain(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(byte))
}

/// A new request id: 12 random bytes, base64url. The bytes are drawn from the system's RNG for
/// 32 ids at a time, per thread (one RNG call per request cost 2% of the gateway's CPU).
fn random_request_id() -> Option<HeaderValue> {
    const ID_BYTES: usize = 12;
    const POOL_BYTES: usize = ID_BYTES * 32;
    thread_local! {
        static POOL: RefCell<([u8; POOL_BYTES], usize)> =
            const { RefCell::new(([0; POOL_BYTES], POOL_BYTES)) };
    }
    POOL.with_borrow_mut(|(pool, used)| {
        if *used == POOL_BYTES {
            portcullis_jose::random_bytes(pool).ok()?;
            *used = 0;
        }
        let id = pool.get(*used..*used + ID_BYTES)?;
        *used += ID_BYTES;
        HeaderValue::try_from(portcullis_jose::base64url::encode(id)).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_id(id: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(id) {
            headers.insert(X_REQUEST_ID, value);
        }
        headers
    }

    #[test]
    fn a_plain_id_is_kept_and_any_other_replaced_by_a_fresh_one() {
        assert_eq!(request_id(&with_id(b"trace-42.a_b")), "trace-42.a_b");
        let long = "a".repeat(129);
        let mut seen = std::collections::HashSet::new();
        // More than one pool of 32, so a refill is crossed.
        for _ in 0..40 {
            for refused in [&b""[..], b"two words", b"with\"quote", long.as_bytes()] {
                let id = request_id(&with_id(refused));
                assert_eq!(id.len(), 16, "{refused:?} -> {id:?}");
                assert!(is_plain(id.as_bytes()), "{id:?}");
                assert!(seen.insert(id), "ids repeat");
            }
        }
    }
}
