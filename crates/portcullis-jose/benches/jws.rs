//! Sign and verify cost per algorithm, for a typical RFC 9068 access token payload.
//! Run: `cargo bench -p portcullis-jose --bench jws`
#![allow(clippy::expect_used)] // a benchmark whose setup fails should stop loudly

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_jose::{
    AccessTokenValidation, Algorithm, KeySet, SigningKey, UnverifiedJws, sign_compact,
};
use std::hint::black_box;

const NOW: i64 = 1_800_000_000;

fn payload() -> Vec<u8> {
    format!(
        r#"{{"iss":"http://127.0.0.1:3000","sub":"svc","aud":"https://api.example","exp":{},"iat":{NOW},"jti":"Kt_1Wke6PoUwAJiKPU1vWg","client_id":"svc","scope":"read write"}}"#,
        NOW + 900
    )
    .into_bytes()
}

fn jws(c: &mut Criterion) {
    let payload = payload();
    for alg in Algorithm::ALL {
        let key = SigningKey::generate(alg, format!("bench-{alg}")).expect("key generation");
        let keys = KeySet::from_keys([key.verifying_key().clone()]);
        let token = sign_compact(&payload, "at+jwt", &key).expect("signing");
        let validation = AccessTokenValidation {
            issuer: "http://127.0.0.1:3000".into(),
            audience: Some("https://api.example".into()),
            leeway_secs: 60,
        };
        c.bench_function(&format!("sign/{alg}"), |b| {
            b.iter(|| sign_compact(black_box(&payload), "at+jwt", &key));
        });
        c.bench_function(&format!("verify_signature/{alg}"), |b| {
            b.iter(|| UnverifiedJws::parse(black_box(&token)).and_then(|jws| jws.verify(&keys)));
        });
        c.bench_function(&format!("validate_access_token/{alg}"), |b| {
            b.iter(|| validation.validate(black_box(&token), &keys, NOW));
        });
    }
}

criterion_group!(benches, jws);
criterion_main!(benches);
