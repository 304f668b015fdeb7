//! Any string as a DPoP proof (RFC 9449) and any string as its URL: verifying must never panic,
//! and URL normalization must be stable (a normalized URL normalizes to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_jose::dpop::{DpopExpectations, normalize_htu, verify_proof};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (proof, url) = text.split_once('\n').unwrap_or((text, "https://api.example/x"));
    if let Some(normal) = normalize_htu(url) {
        assert_eq!(normalize_htu(&normal).as_deref(), Some(normal.as_str()), "{url}");
    }
    let expected = DpopExpectations {
        method: "GET",
        url: "https://api.example/x",
        now: 1_800_000_000,
        max_age_secs: 60,
        leeway_secs: 5,
        access_token: Some("token"),
    };
    let _ = verify_proof(proof, &expected);
});
