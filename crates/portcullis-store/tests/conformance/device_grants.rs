//! Conformance cases of device authorization requests (RFC 8628): found by user code only while
//! pending and unexpired, decided once, polled, ended once, bounded per client and address, one
//! live grant per user code, and purged after expiry.

use portcullis_core::AuthMethods;
use portcullis_core::device_grant::{DeviceApproval, DeviceGrantRecord, DeviceGrantStatus};
use portcullis_service::{Store, StoreError};

fn grant(device: &str, user: &str, expires_at: i64) -> DeviceGrantRecord {
    DeviceGrantRecord {
        device_code_hash: device.to_owned(),
        user_code_hash: user.to_owned(),
        client_id: "tv".to_owned(),
        requested_by: "192.0.2.1".to_owned(),
        scope: "openid api:read".to_owned(),
        audiences: vec!["api".to_owned(), "https://api.example".to_owned()],
        interval_secs: 5,
        last_polled_at: None,
        expires_at,
        status: DeviceGrantStatus::Pending,
    }
}

pub async fn device_grants_are_decided_once_and_ended_once(store: &dyn Store) {
    assert!(
        store
            .start_device_grant(&grant("d1", "u1", 700), 100, 2)
            .await
            .expect("start")
    );
    assert!(
        matches!(
            store
                .start_device_grant(&grant("d2", "u1", 700), 100, 2)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "one live grant per user code"
    );
    assert!(
        store
            .start_device_grant(&grant("d3", "u3", 700), 100, 2)
            .await
            .expect("start")
    );
    assert!(
        !store
            .start_device_grant(&grant("d4", "u4", 700), 100, 2)
            .await
            .expect("start"),
        "two pending from this address and client are the most"
    );
    let pending = store
        .pending_device_grant("u1", 100)
        .await
        .expect("find")
        .expect("pending");
    assert_eq!(pending, grant("d1", "u1", 700));
    assert_eq!(
        store.pending_device_grant("u1", 700).await.expect("find"),
        None,
        "expired"
    );

    store.record_device_poll("d1", 150, 10).await.expect("poll");
    let approval = DeviceApproval {
        user_id: "alice".to_owned(),
        sid: "s1".to_owned(),
        auth_time: 120,
        amr: AuthMethods::password(),
        scope: "api:read".to_owned(),
    };
    let approved = DeviceGrantStatus::Approved(approval);
    assert!(
        store
            .decide_device_grant("u1", &approved, 160)
            .await
            .expect("decide")
    );
    assert!(
        !store
            .decide_device_grant("u1", &DeviceGrantStatus::Denied, 161)
            .await
            .expect("decide"),
        "decided once"
    );
    assert_eq!(
        store.pending_device_grant("u1", 162).await.expect("find"),
        None
    );
    let found = store
        .find_device_grant("d1")
        .await
        .expect("find")
        .expect("grant");
    assert_eq!(
        found,
        DeviceGrantRecord {
            last_polled_at: Some(150),
            interval_secs: 10,
            status: approved,
            ..grant("d1", "u1", 700)
        }
    );
    assert!(
        !store
            .decide_device_grant("u3", &DeviceGrantStatus::Denied, 700)
            .await
            .expect("decide"),
        "too late"
    );
    assert!(store.end_device_grant("d1").await.expect("end"));
    assert!(
        !store.end_device_grant("d1").await.expect("end"),
        "ended once"
    );
    assert_eq!(store.find_device_grant("d1").await.expect("find"), None);
    assert_eq!(store.purge_device_grants(700).await.expect("purge"), 1);
    assert_eq!(store.find_device_grant("d3").await.expect("find"), None);
}
