//! Any body and content type at the token endpoint's parsing: form parsing (repeated and oversized
//! parameters) and client credential extraction (Basic header versus body) must never panic.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use portcullis_auth::client_auth::presented_credentials;
use portcullis_auth::form::OAuthParams;

fuzz_target!(|input: (&[u8], &[u8], &[u8])| {
    let (content_type, authorization, body) = input;
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        headers.insert(header::AUTHORIZATION, value);
    }
    if let Ok(params) = OAuthParams::from_form_body(&headers, body) {
        let _ = presented_credentials(&headers, &params);
        let _ = params.get("grant_type");
    }
});
