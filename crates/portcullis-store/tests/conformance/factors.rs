//! Conformance cases of second factors: a pending app replaced until confirmed, each time step
//! and recovery code good once (also under concurrency), and a reset removing everything.

use super::user;
use portcullis_core::totp::TotpFactorRecord;
use portcullis_service::Store;

fn app(user_id: &str, sealed: &[u8], created_at: i64) -> TotpFactorRecord {
    TotpFactorRecord {
        user_id: user_id.to_owned(),
        sealed_secret: sealed.to_vec(),
        created_at,
        confirmed_at: None,
        last_step: 0,
    }
}

pub async fn an_app_is_confirmed_once_and_each_step_is_used_once(store: &dyn Store) {
    let owner = user("factor-owner");
    store.create_user(&owner).await.expect("user");
    assert!(
        store
            .save_pending_totp(&app(&owner.id, b"first", 10))
            .await
            .expect("save")
    );
    assert!(
        store
            .save_pending_totp(&app(&owner.id, b"second", 20))
            .await
            .expect("save"),
        "an unfinished setup is replaced"
    );
    let pending = store
        .find_totp(&owner.id)
        .await
        .expect("find")
        .expect("app");
    assert_eq!(pending.sealed_secret, b"second");
    assert_eq!(pending.confirmed_at, None);
    assert!(store.use_totp_step(&owner.id, 100, 30).await.expect("use"));
    let confirmed = store
        .find_totp(&owner.id)
        .await
        .expect("find")
        .expect("app");
    assert_eq!(
        (confirmed.confirmed_at, confirmed.last_step),
        (Some(30), 100)
    );
    assert!(
        !store
            .save_pending_totp(&app(&owner.id, b"third", 40))
            .await
            .expect("save"),
        "a confirmed app is never replaced"
    );
    assert!(
        !store
            .use_totp_step(&owner.id, 100, 50)
            .await
            .expect("replay")
    );
    assert!(!store.use_totp_step(&owner.id, 99, 50).await.expect("older"));
    // Two requests with the next step at once: one wins.
    let (first, second) = tokio::join!(
        store.use_totp_step(&owner.id, 101, 60),
        store.use_totp_step(&owner.id, 101, 60)
    );
    assert_eq!(
        u8::from(first.expect("use")) + u8::from(second.expect("use")),
        1
    );
    assert_eq!(
        store
            .find_totp(&owner.id)
            .await
            .expect("find")
            .expect("app")
            .confirmed_at,
        Some(30),
        "confirmation time kept"
    );
    store
        .delete_user(owner.username.as_str())
        .await
        .expect("delete");
    assert_eq!(
        store.find_totp(&owner.id).await.expect("find"),
        None,
        "removed with the user"
    );
}

pub async fn recovery_codes_are_single_use_and_reset_with_the_app(store: &dyn Store) {
    let owner = user("recovery-owner");
    store.create_user(&owner).await.expect("user");
    let hashes: Vec<Vec<u8>> = (0..10u8).map(|n| vec![n; 32]).collect();
    store
        .replace_recovery_codes(&owner.id, &hashes, 5)
        .await
        .expect("codes");
    assert_eq!(
        store.unused_recovery_codes(&owner.id).await.expect("count"),
        10
    );
    let (first, second) = tokio::join!(
        store.use_recovery_code(&owner.id, &hashes[0], 6),
        store.use_recovery_code(&owner.id, &hashes[0], 6)
    );
    assert_eq!(
        u8::from(first.expect("use")) + u8::from(second.expect("use")),
        1,
        "one use only"
    );
    assert!(
        !store
            .use_recovery_code("someone-else", &hashes[1], 6)
            .await
            .expect("other")
    );
    assert_eq!(
        store.unused_recovery_codes(&owner.id).await.expect("count"),
        9
    );
    // A new set replaces the old one entirely.
    store
        .replace_recovery_codes(&owner.id, &[vec![42; 32]], 7)
        .await
        .expect("codes");
    assert!(
        !store
            .use_recovery_code(&owner.id, &hashes[2], 8)
            .await
            .expect("old")
    );
    assert_eq!(
        store.unused_recovery_codes(&owner.id).await.expect("count"),
        1
    );
    assert!(
        store
            .save_pending_totp(&app(&owner.id, b"s", 9))
            .await
            .expect("save")
    );
    assert!(store.delete_factors(&owner.id).await.expect("reset"));
    assert!(!store.delete_factors(&owner.id).await.expect("nothing left"));
    assert_eq!(
        store.unused_recovery_codes(&owner.id).await.expect("count"),
        0
    );
    assert_eq!(store.find_totp(&owner.id).await.expect("find"), None);
}
