//! Any request path through the gateway's normalization: it must never panic, and what it accepts
//! must be normal: absolute, no empty or dot segments, stable when normalized again, and matched
//! without `;` parameters. A path that normalizes differently the second time would let the route
//! and the upstream disagree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_gateway::path::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(normalized) = normalize(raw) else {
        return;
    };
    let path = normalized.as_str();
    assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
    let segments: Vec<&str> = path[1..].split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let name = segment.split(';').next().unwrap_or_default();
        assert!(name != "." && name != "..", "dot segment left: {raw:?} -> {path:?}");
        assert!(
            !segment.is_empty() || index + 1 == segments.len(),
            "empty segment left: {raw:?} -> {path:?}"
        );
    }
    let again = normalize(path).expect("a normal path is accepted again");
    assert_eq!(again.as_str(), path, "normalizing twice changes {raw:?}");
    assert!(!normalized.for_matching().contains(';'));
    assert!(normalized.for_matching().starts_with('/'));
});
