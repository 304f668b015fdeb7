//! Conformance cases of second factors: one app per user, each time step and recovery code good
//! once (also under concurrency), wrong codes counted until one is right, and a reset removing
//! everything.

use super::user;
use portcullis_core::totp::TotpFactorRecord;
use portcullis_service::Store;

fn app(user_id: &str, sealed: &[u8], confirmed_at: i64, last_step: i64) -> TotpFactorRecord {
    TotpFactorRecord {
        user_id: user_id.to_owned(),
        sealed_secret: sealed.to_vec(),
        confirmed_at,
        last_step,
        failures: 0,
    }
}

pub async fn an_app_is_added_once_and_each_step_is_used_once(store: &dyn Store) {
    let owner = user("factor-owner");
    store.create_user(&owner).await.expect("user");
    assert_eq!(
        store.count_factor_failure(&owner.id).await.expect("count"),
        0
    );
    assert!(
        store
            .add_totp(&app(&owner.id, b"first", 10, 100))
            .await
            .expect("add")
    );
    assert!(
        !store
            .add_totp(&app(&owner.id, b"second", 20, 200))
            .await
            .expect("add"),
        "an app is never replaced, only removed"
    );
    let stored = store
        .find_totp(&owner.id)
        .await
        .expect("find")
        .expect("app");
    assert_eq!(stored, app(&owner.id, b"first", 10, 100));
    assert!(
        !store
            .use_totp_step(&owner.id, 100)
            .await
            .expect("the setup's code")
    );
    assert!(!store.use_totp_step(&owner.id, 99).await.expect("older"));
    // Wrong codes count up; a right one clears them.
    assert_eq!(
        store.count_factor_failure(&owner.id).await.expect("count"),
        1
    );
    assert_eq!(
        store.count_factor_failure(&owner.id).await.expect("count"),
        2
    );
    // Two requests with the next step at once: one wins.
    let (first, second) = tokio::join!(
        store.use_totp_step(&owner.id, 101),
        store.use_totp_step(&owner.id, 101)
    );
    assert_eq!(
        u8::from(first.expect("use")) + u8::from(second.expect("use")),
        1
    );
    let used = store
        .find_totp(&owner.id)
        .await
        .expect("find")
        .expect("app");
    assert_eq!((used.last_step, used.failures), (101, 0));
    store.count_factor_failure(&owner.id).await.expect("count");
    store.clear_factor_failures(&owner.id).await.expect("clear");
    assert_eq!(
        store
            .find_totp(&owner.id)
            .await
            .expect("find")
            .expect("app")
            .failures,
        0
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
            .add_totp(&app(&owner.id, b"s", 9, 1))
            .await
            .expect("add")
    );
    assert!(store.delete_factors(&owner.id).await.expect("reset"));
    assert!(!store.delete_factors(&owner.id).await.expect("nothing left"));
    assert_eq!(
        store.unused_recovery_codes(&owner.id).await.expect("count"),
        0
    );
    assert_eq!(store.find_totp(&owner.id).await.expect("find"), None);
}

pub async fn passkeys_belong_to_one_user_and_record_their_use(store: &dyn Store) {
    use portcullis_core::passkey::PasskeyRecord;
    let owner = user("passkey-owner");
    let other = user("passkey-other");
    store.create_user(&owner).await.expect("user");
    store.create_user(&other).await.expect("user");
    let passkey = PasskeyRecord {
        credential_id: vec![7; 16],
        user_id: owner.id.clone(),
        name: "Laptop".into(),
        credential: "{\"cred\":1}".into(),
        backup_eligible: true,
        backed_up: false,
        created_at: 10,
        last_used_at: None,
    };
    store.add_passkey(&passkey).await.expect("add");
    let stolen = PasskeyRecord {
        user_id: other.id.clone(),
        ..passkey.clone()
    };
    assert!(
        matches!(
            store.add_passkey(&stolen).await,
            Err(portcullis_service::StoreError::Conflict(_))
        ),
        "a credential id belongs to one user"
    );
    assert_eq!(
        store.find_passkey(&[7; 16]).await.expect("find"),
        Some(passkey.clone())
    );
    store
        .record_passkey_use(&[7; 16], "{\"cred\":2}", true, 20)
        .await
        .expect("use");
    let used = store.passkeys_of_user(&owner.id).await.expect("list");
    assert_eq!(used.len(), 1);
    assert_eq!(
        (
            used[0].credential.as_str(),
            used[0].backed_up,
            used[0].last_used_at
        ),
        ("{\"cred\":2}", true, Some(20))
    );
    assert!(
        store
            .passkeys_of_user(&other.id)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(
        !store
            .delete_passkey(&other.id, &[7; 16])
            .await
            .expect("delete"),
        "only its owner removes it"
    );
    assert!(
        store
            .delete_passkey(&owner.id, &[7; 16])
            .await
            .expect("delete")
    );
    store.add_passkey(&passkey).await.expect("add again");
    assert!(store.delete_factors(&owner.id).await.expect("reset"));
    assert_eq!(
        store.find_passkey(&[7; 16]).await.expect("find"),
        None,
        "a reset removes passkeys"
    );
}
