//! Any string as an access token: parsing, signature verification against real keys of every
//! algorithm, and claim validation must never panic, and must never accept (no input here is
//! signed by these keys, which are generated fresh per process).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_jose::{AccessTokenValidation, Algorithm, KeySet, SigningKey, UnverifiedJws};
use std::sync::LazyLock;

static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    KeySet::from_keys(Algorithm::ALL.into_iter().map(|alg| {
        SigningKey::generate(alg, format!("{}-fuzz", alg.as_str()))
            .expect("key")
            .verifying_key()
            .clone()
    }))
});

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(jws) = UnverifiedJws::parse(token) {
        let _ = jws.header();
        assert!(jws.verify(&KEYS).is_err(), "an unsigned input verified");
    }
    let validation = AccessTokenValidation {
        issuer: "https://issuer.example".into(),
        audience: Some("api".into()),
        leeway_secs: 60,
    };
    assert!(validation.validate(token, &KEYS, 1_800_000_000).is_err());
});
