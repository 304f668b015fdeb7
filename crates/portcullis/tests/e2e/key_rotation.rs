//! `portcullis admin keys rotate` against a running server: the new key is published before it
//! signs, old tokens keep verifying, and new tokens switch to the new kid after pre-publication.

use super::support::{
    access_token, admin, jwks, kid_of, kids, service_client, stdout, verify_independently,
};
use portcullis_testkit::{TestAuthServer, TestOptions};
use std::time::{Duration, Instant};

/// The CLI must use the same key timing as the test server.
const ROTATION_ENV: [(&str, &str); 4] = [
    ("PORTCULLIS_KEYS_PREPUBLISH_SECS", "3"),
    ("PORTCULLIS_KEYS_JWKS_MAX_AGE_SECS", "1"),
    ("PORTCULLIS_KEYS_REFRESH_INTERVAL_SECS", "1"),
    ("PORTCULLIS_KEYS_ROTATION_INTERVAL_SECS", "0"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_prepublishes_then_switches_and_keeps_old_tokens_valid() {
    let server = TestAuthServer::start().await;
    let (_, secret) = server.add_client(service_client("svc")).await;
    let secret = secret.expect("secret");
    let old_token = access_token(&server, "svc", &secret).await;
    let old_kid = kid_of(&old_token);

    let output = admin(
        server.data_dir(),
        &["keys", "rotate", "--alg", "ES256"],
        "",
        &ROTATION_ENV,
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let new_kid = stdout(&output)
        .lines()
        .find_map(|line| {
            line.strip_prefix("created ES256 key ")?
                .split(':')
                .next()
                .map(str::to_owned)
        })
        .expect("new kid printed");
    assert_ne!(new_kid, old_kid);

    // Published well before it signs: the server re-reads keys every 200 ms, pre-publication is 3 s.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !kids(&jwks(&server.base_url).await).contains(&new_kid) {
        assert!(Instant::now() < deadline, "new key not published in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let during_prepublication = access_token(&server, "svc", &secret).await;
    assert_eq!(
        kid_of(&during_prepublication),
        old_kid,
        "a pending key must not sign"
    );

    let activates_at = server
        .state
        .keys
        .statuses(server.now())
        .into_iter()
        .find(|(metadata, _)| metadata.kid == new_kid)
        .map(|(metadata, _)| metadata.activates_at)
        .expect("new key known to the server");
    let deadline = Instant::now() + Duration::from_secs(8);
    let new_token = loop {
        let token = access_token(&server, "svc", &secret).await;
        if kid_of(&token) == new_kid {
            break token;
        }
        assert!(Instant::now() < deadline, "new key never started signing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let claims = verify_independently(
        &new_token,
        &jwks(&server.base_url).await,
        &server.base_url,
        "orders",
    )
    .expect("new token verifies");
    assert!(
        claims["iat"].as_i64().expect("iat") >= activates_at,
        "signed before its activation time"
    );

    let published = jwks(&server.base_url).await;
    assert!(
        kids(&published).contains(&old_kid),
        "retired key stays published while its tokens live"
    );
    verify_independently(&old_token, &published, &server.base_url, "orders")
        .expect("old token still verifies");

    let listing = stdout(&admin(server.data_dir(), &["keys", "list"], "", &ROTATION_ENV).await);
    let status_of = |kid: &str| {
        listing
            .lines()
            .find(|line| line.starts_with(kid))
            .and_then(|line| line.split_whitespace().nth(2))
            .map(str::to_owned)
    };
    assert_eq!(status_of(&new_kid).as_deref(), Some("active"));
    assert_eq!(status_of(&old_kid).as_deref(), Some("retired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_refuses_a_foreign_key_encryption_key_and_unknown_algorithms() {
    let server = TestAuthServer::start().await;
    let foreign = portcullis_jose::KeyEncryptionKey::generate()
        .expect("kek")
        .to_base64url();
    let mut env = ROTATION_ENV.to_vec();
    env.push(("PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY", foreign.as_str()));
    let output = admin(server.data_dir(), &["keys", "rotate"], "", &env).await;
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("wrong key-encryption key"), "{message}");
    assert!(!message.contains(&foreign), "the key must never be printed");
    let output = admin(
        server.data_dir(),
        &["keys", "rotate", "--alg", "HS256"],
        "",
        &ROTATION_ENV,
    )
    .await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown algorithm `HS256`"));
    assert_eq!(
        kids(&jwks(&server.base_url).await).len(),
        3,
        "nothing was created"
    );
}

#[tokio::test]
async fn automatic_rotation_publishes_a_new_key_per_algorithm_when_due() {
    let options = TestOptions {
        rotation_interval_secs: Some(4),
        ..TestOptions::default()
    };
    let server = TestAuthServer::start_with(options).await;
    let first = kids(&jwks(&server.base_url).await);
    assert_eq!(first.len(), 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    let rotated = loop {
        let current = kids(&jwks(&server.base_url).await);
        if current.len() == 6 {
            break current;
        }
        assert!(
            Instant::now() < deadline,
            "no automatic rotation: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        first.iter().all(|kid| rotated.contains(kid)),
        "old keys stay published"
    );
    let statuses = server.state.keys.statuses(server.now());
    let pending = statuses
        .iter()
        .filter(|(_, status)| status.name() == "pending")
        .count();
    let active = statuses
        .iter()
        .filter(|(_, status)| status.name() == "active")
        .count();
    assert_eq!(
        (pending, active),
        (3, 3),
        "new keys wait out pre-publication: {statuses:?}"
    );
}
