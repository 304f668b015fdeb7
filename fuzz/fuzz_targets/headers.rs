//! Any `Cookie` and `Authorization` header, and any gateway identity headers: cookie reading,
//! bearer token extraction and identity parsing must never panic.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use portcullis_auth::cookies::read_cookie;
use portcullis_sdk::{Identity, bearer_token};

fuzz_target!(|input: (&[u8], &[u8], &[u8], &[u8])| {
    let (cookie, authorization, subject, scopes) = input;
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (header::COOKIE, cookie),
        (header::AUTHORIZATION, authorization),
        (header::HeaderName::from_static("x-portcullis-subject"), subject),
        (header::HeaderName::from_static("x-portcullis-scopes"), scopes),
    ] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let _ = read_cookie(&headers, "portcullis_session", false);
    let _ = read_cookie(&headers, "portcullis_session", true);
    let _ = bearer_token(&headers);
    let _ = Identity::from_gateway_headers(&headers);
});
