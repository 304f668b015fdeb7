//! The audit log over a real (temporary SQLite) store: a burst of events, which the writer
//! gathers into few transactions, is stored whole and in order without anyone asking; a flush
//! returns only once everything recorded before it is stored; a lone event is stored without one.
//! (The gathering's timing is tested in paused time beside the writer, `audit::tests`.)
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{AuditEvent, SystemClock};
use portcullis_service::{AuditLog, AuditQuery, AuditStore};
use portcullis_store::SqlStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn store(dir: &tempfile::TempDir) -> Arc<SqlStore> {
    Arc::new(
        SqlStore::open_sqlite(&dir.path().join("portcullis.db"))
            .await
            .expect("store"),
    )
}

fn issued(number: usize) -> AuditEvent {
    AuditEvent::TokenIssued {
        grant_type: "client_credentials".into(),
        client_id: "svc".into(),
        subject: "svc".into(),
        jti: format!("jti-{number}"),
        scope: "read".into(),
        audience: vec!["api".into()],
    }
}

/// The jtis of the stored events, oldest first.
async fn stored_jtis(store: &SqlStore) -> Vec<String> {
    let query = AuditQuery {
        limit: 10_000,
        ..AuditQuery::default()
    };
    let mut records = store.search_audit(&query).await.expect("search");
    records.reverse();
    records
        .iter()
        .map(|record| {
            let detail: serde_json::Value = serde_json::from_str(&record.detail).expect("json");
            detail["jti"].as_str().expect("jti").to_owned()
        })
        .collect()
}

/// Polls until `count` events are stored, at most 10 s (a liveness bound, not a speed target).
async fn until_stored(store: &SqlStore, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jtis = stored_jtis(store).await;
        if jtis.len() >= count || Instant::now() > deadline {
            return jtis;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_is_stored_whole_and_in_order_without_a_flush() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store(&dir).await;
    let log = AuditLog::start(store.clone(), Arc::new(SystemClock));
    for number in 0..700 {
        log.record(&issued(number));
    }
    let expected: Vec<String> = (0..700).map(|number| format!("jti-{number}")).collect();
    assert_eq!(until_stored(&store, 700).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flush_returns_once_every_earlier_event_is_stored() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store(&dir).await;
    let log = AuditLog::start(store.clone(), Arc::new(SystemClock));
    for number in 0..50 {
        log.record(&issued(number));
    }
    log.flush().await;
    assert_eq!(stored_jtis(&store).await.len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_event_is_stored_without_a_flush() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = store(&dir).await;
    let log = AuditLog::start(store.clone(), Arc::new(SystemClock));
    log.record(&issued(1));
    assert_eq!(until_stored(&store, 1).await, vec!["jti-1".to_owned()]);
    // The log is still taking events after a quiet spell.
    log.record(&issued(2));
    assert_eq!(until_stored(&store, 2).await, vec!["jti-1", "jti-2"]);
}
