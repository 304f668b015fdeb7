//! Sign-in admission control over a real (temporary SQLite) store: with every Argon2 turn taken
//! and no room to wait, an attempt is refused at once as busy and costs no Argon2 verification
//! (it is refused before the throttle reserves anything); admitted attempts are checked as ever.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::PasswordPolicy;
use portcullis_core::throttle::ThrottlePolicy;
use portcullis_service::credentials::{Attempt, SignInAdmission, SignInFailure};
use portcullis_service::{CredentialVerifier, MemoryThrottle};
use portcullis_store::SqlStore;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_with_no_turn_and_no_room_to_wait_is_refused_at_once_without_argon2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(
        SqlStore::open_sqlite(&dir.path().join("portcullis.db"))
            .await
            .expect("store"),
    );
    // A costly hash, so the admitted verifications overlap the others' arrival.
    let policy = PasswordPolicy {
        memory_kib: 32 * 1024,
        iterations: 3,
        ..PasswordPolicy::default()
    };
    let verifier = Arc::new(
        CredentialVerifier::with_admission(
            policy,
            SignInAdmission {
                concurrency: 0,
                max_wait: Duration::ZERO,
                max_waiting: 0,
            },
        )
        .expect("verifier"),
    );
    let throttle = Arc::new(MemoryThrottle::new(ThrottlePolicy {
        base_delay_ms: 0,
        ..ThrottlePolicy::default()
    }));
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let attempts = 4 * cores;
    let started = verifier.password_verifications();
    let tasks: Vec<_> = (0..attempts)
        .map(|n| {
            let (store, verifier, throttle) = (store.clone(), verifier.clone(), throttle.clone());
            tokio::spawn(async move {
                let username = format!("nobody-{n}");
                let attempt = Attempt {
                    username: &username,
                    password: "a guess",
                    client: IpAddr::V4(Ipv4Addr::from(0xC000_0200_u32 + n as u32)),
                    now: 1_000,
                };
                let sent = Instant::now();
                let outcome = verifier
                    .verify(store.as_ref(), throttle.as_ref(), attempt)
                    .await;
                (outcome, sent.elapsed())
            })
        })
        .collect();
    let mut busy = 0;
    let mut checked = 0;
    for task in tasks {
        match task.await.expect("task") {
            (Err(SignInFailure::Busy), waited) => {
                busy += 1;
                assert!(
                    waited < Duration::from_millis(50),
                    "refused at once: {waited:?}"
                );
            }
            (Err(SignInFailure::InvalidCredentials(_)), _) => checked += 1,
            (other, _) => panic!("unexpected outcome: {:?}", other.map(|user| user.id)),
        }
    }
    assert!(
        busy > 0,
        "with {attempts} at once and {cores} turns, some are refused"
    );
    assert!(checked >= cores, "every turn was used: {checked}");
    assert_eq!(
        verifier.password_verifications() - started,
        checked as u64,
        "a refused attempt costs no Argon2 verification"
    );
}
