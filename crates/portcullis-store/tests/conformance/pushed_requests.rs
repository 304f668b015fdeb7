//! Conformance cases of pushed authorization requests (RFC 9126): usable only by their client
//! and until they expire, their lifetime extended once when first opened, gone once finished,
//! bounded per client, and purged after expiry.

use portcullis_core::pushed_request::PushedRequestRecord;
use portcullis_service::Store;

fn pushed(reference_hash: &str, client_id: &str, expires_at: i64) -> PushedRequestRecord {
    PushedRequestRecord {
        reference_hash: reference_hash.to_owned(),
        client_id: client_id.to_owned(),
        pushed_by: String::new(),
        parameters: format!("[[\"client_id\",\"{client_id}\"]]"),
        expires_at,
    }
}

pub async fn pushed_requests_serve_their_client_until_answered_or_expired(store: &dyn Store) {
    assert!(
        store
            .push_request(&pushed("r1", "app", 190), 100, 10)
            .await
            .expect("push")
    );
    // Another client cannot use it.
    assert_eq!(
        store
            .open_pushed_request("r1", "other", 120, 720)
            .await
            .expect("open"),
        None
    );
    // Its client can; the first opening is remembered and extends its life to 720.
    let opened = store
        .open_pushed_request("r1", "app", 120, 720)
        .await
        .expect("open")
        .expect("opened");
    assert_eq!(opened.parameters, "[[\"client_id\",\"app\"]]");
    assert_eq!(opened.opened_at, 120);
    let reopened = store
        .open_pushed_request("r1", "app", 500, 1_100)
        .await
        .expect("reopen")
        .expect("past its first expiry, within the opened lifetime");
    assert_eq!(reopened.opened_at, 120, "first opening kept");
    // Later openings do not extend it again.
    assert_eq!(
        store
            .open_pushed_request("r1", "app", 720, 1_320)
            .await
            .expect("expired"),
        None
    );
    // An unopened request expires on time.
    store
        .push_request(&pushed("r2", "app", 190), 100, 10)
        .await
        .expect("push");
    assert_eq!(
        store
            .open_pushed_request("r2", "app", 190, 790)
            .await
            .expect("late"),
        None
    );
    // Once answered, it is gone.
    store
        .push_request(&pushed("r3", "app", 290), 200, 10)
        .await
        .expect("push");
    assert!(store.finish_pushed_request("r3").await.expect("finish"));
    assert!(
        !store.finish_pushed_request("r3").await.expect("again"),
        "a second answer loses"
    );
    assert_eq!(
        store
            .open_pushed_request("r3", "app", 201, 801)
            .await
            .expect("finished"),
        None
    );
    // At most `max_pending` unexpired ones per client.
    for reference in ["b1", "b2"] {
        assert!(
            store
                .push_request(&pushed(reference, "busy", 390), 300, 2)
                .await
                .expect("push")
        );
    }
    assert!(
        !store
            .push_request(&pushed("b3", "busy", 390), 300, 2)
            .await
            .expect("full")
    );
    // Counted per pusher: another address still has room.
    let elsewhere = PushedRequestRecord {
        pushed_by: "203.0.113.9".into(),
        ..pushed("e1", "busy", 390)
    };
    assert!(store.push_request(&elsewhere, 300, 2).await.expect("push"));
    assert!(
        store
            .push_request(&pushed("b3", "busy", 490), 400, 2)
            .await
            .expect("the others expired"),
    );
    // Expired ones are purged (r2, b1, b2, e1); r1 (opened, until 720) and b3 stay.
    assert_eq!(store.purge_pushed_requests(400).await.expect("purge"), 4);
    assert!(
        store
            .open_pushed_request("b3", "busy", 401, 1_001)
            .await
            .expect("open")
            .is_some()
    );
}
