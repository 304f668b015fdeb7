//! Delivering the outbox over a real (temporary SQLite) store, with a scripted mail server:
//! accepted messages leave, temporary failures come back after the back-off, permanent ones are
//! dropped, and nothing is sent twice.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use async_trait::async_trait;
use portcullis_core::{Clock, OutboxEntry, OutboxStatus, OutgoingEmail, UnixSeconds};
use portcullis_service::{
    DeliveryMetrics, DeliveryReport, MailError, Mailer, OutboxDelivery, OutboxStore,
};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

struct FixedClock(AtomicI64);

impl Clock for FixedClock {
    fn now(&self) -> UnixSeconds {
        self.0.load(Ordering::SeqCst)
    }
}

/// Answers each recipient from a script; records what it accepted.
#[derive(Default)]
struct ScriptedServer {
    temporary_failures_left: Mutex<u32>,
    accepted: Mutex<Vec<String>>,
}

#[async_trait]
impl Mailer for ScriptedServer {
    async fn send(&self, entry: &OutboxEntry) -> Result<(), MailError> {
        if entry.email.to.starts_with("nobody") {
            return Err(MailError::Permanent("550 no such user".into()));
        }
        let mut failures = self.temporary_failures_left.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(MailError::Temporary("connection refused".into()));
        }
        self.accepted.lock().unwrap().push(entry.email.to.clone());
        Ok(())
    }
}

#[derive(Default)]
struct Seen(Mutex<Vec<(DeliveryReport, OutboxStatus)>>);

impl DeliveryMetrics for Seen {
    fn delivery_round(&self, report: &DeliveryReport, status: &OutboxStatus, _now: UnixSeconds) {
        self.0.lock().unwrap().push((*report, *status));
    }
}

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.into(),
        subject: "Reset your password".into(),
        text: "text".into(),
        html: "<p>html</p>".into(),
    }
}

#[tokio::test]
async fn messages_survive_failures_and_leave_once_accepted() {
    let dir = tempfile::tempdir().expect("dir");
    let store = portcullis_store::SqlStore::open_sqlite(&dir.path().join("portcullis.db"))
        .await
        .expect("store");
    let clock = FixedClock(AtomicI64::new(1_000));
    let server = ScriptedServer {
        temporary_failures_left: Mutex::new(1),
        ..ScriptedServer::default()
    };
    let seen = Seen::default();
    let delivery = OutboxDelivery {
        outbox: &store,
        mailer: &server,
        clock: &clock,
        metrics: &seen,
    };
    for to in ["alice@example.com", "bob@example.com", "nobody@example.com"] {
        store
            .enqueue_email(&email(to), 1_000)
            .await
            .expect("enqueue");
    }

    let first = delivery.deliver_due().await.expect("round");
    assert_eq!(
        first,
        DeliveryReport {
            sent: 1,
            postponed: 1,
            dropped: 1
        },
        "alice's attempt fails for now, bob's is accepted, nobody's refused for good"
    );
    assert_eq!(*server.accepted.lock().unwrap(), ["bob@example.com"]);
    let (_, status) = seen.0.lock().unwrap()[0];
    assert_eq!(
        status,
        OutboxStatus {
            pending: 1,
            oldest_created_at: Some(1_000)
        }
    );

    assert_eq!(
        delivery.deliver_due().await.expect("round"),
        DeliveryReport::default(),
        "not due before the back-off ends"
    );
    clock.0.store(1_005, Ordering::SeqCst);
    assert_eq!(delivery.deliver_due().await.expect("round").sent, 1);
    assert_eq!(
        *server.accepted.lock().unwrap(),
        ["bob@example.com", "alice@example.com"],
        "each accepted once"
    );
    clock.0.store(10_000, Ordering::SeqCst);
    assert_eq!(
        delivery.deliver_due().await.expect("round"),
        DeliveryReport::default()
    );
    assert_eq!(
        store.outbox_status().await.expect("status"),
        OutboxStatus::default()
    );
}
