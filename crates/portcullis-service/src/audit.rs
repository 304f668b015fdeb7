//! Audit events: each goes to the log under the target `portcullis::audit` (one JSON object, so a
//! log pipeline can route it to a separate sink) and into the store's audit log, written by a
//! background task in batches so a request never waits for it.

use crate::AuditStore;
use portcullis_core::{AuditEvent, AuditRecord, Clock};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The log target of audit events.
pub const AUDIT_TARGET: &str = "portcullis::audit";

/// Events waiting to be stored; beyond this they are only logged.
const QUEUE: usize = 8192;
/// Events stored in one transaction at most.
const BATCH: usize = 256;
/// How long events may wait for more to share their transaction, once there are at least
/// [`GATHER_FROM`] of them (a quiet server stores each event at once).
const GATHER: Duration = Duration::from_millis(20);
/// Events that arrived together which show a busy server.
const GATHER_FROM: usize = 8;

/// Records audit events.
pub struct AuditLog {
    queue: mpsc::Sender<Queued>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("AuditLog")
    }
}

enum Queued {
    Record(AuditRecord),
    Flush(oneshot::Sender<()>),
}

impl AuditLog {
    /// Starts the task that stores events in `store`.
    pub fn start(store: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(store_events(store, pending));
        AuditLog { queue, clock }
    }

    /// Logs `event` and queues it for the store.
    pub fn record(&self, event: &AuditEvent) {
        let record = match event.to_record(self.clock.now()) {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(target: AUDIT_TARGET, %error, "audit event not serializable");
                return;
            }
        };
        tracing::info!(target: AUDIT_TARGET, audit = %record.detail);
        if self.queue.try_send(Queued::Record(record)).is_err() {
            tracing::warn!(target: AUDIT_TARGET, "audit queue full; event only logged");
        }
    }

    /// Waits until every event recorded so far has been stored (or given up on).
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Queued::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

async fn store_events(store: Arc<dyn AuditStore>, mut pending: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    let mut received = Vec::with_capacity(BATCH);
    while pending.recv_many(&mut received, BATCH).await > 0 {
        // Under load, events gather for a moment so one transaction stores many: each commit
        // rewrites the pages of the table and its indexes, whatever the number of rows.
        let mut gathered_until = None;
        loop {
            for queued in received.drain(..) {
                match queued {
                    Queued::Record(record) => batch.push(record),
                    Queued::Flush(done) => flushes.push(done),
                }
            }
            if batch.len() >= BATCH || !flushes.is_empty() || batch.len() < GATHER_FROM {
                break;
            }
            let room = BATCH - batch.len();
            let until = *gathered_until.get_or_insert_with(|| tokio::time::Instant::now() + GATHER);
            match tokio::time::timeout_at(until, pending.recv_many(&mut received, room)).await {
                Ok(count) if count > 0 => {}
                _ => break,
            }
        }
        if !batch.is_empty() {
            append_with_retries(store.as_ref(), &batch).await;
            batch.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// A store outage of a few seconds loses nothing; a longer one leaves the events in the log only.
async fn append_with_retries(store: &dyn AuditStore, batch: &[AuditRecord]) {
    for attempt in 1..=5u32 {
        match store.append_audit(batch).await {
            Ok(()) => return,
            Err(error) if attempt == 5 => {
                tracing::error!(target: AUDIT_TARGET, %error, count = batch.len(), "audit events not stored; they remain in the log");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200) * attempt).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditQuery, StoreError};
    use async_trait::async_trait;
    use portcullis_core::{SystemClock, UnixSeconds};
    use std::sync::Mutex;
    use tokio::time::Instant;

    /// Remembers each transaction: when (in the test's paused time) and the events' `jti`s.
    struct Transactions {
        started: Instant,
        stored: Mutex<Vec<(Duration, Vec<String>)>>,
    }

    impl Transactions {
        fn new() -> Arc<Self> {
            Arc::new(Transactions {
                started: Instant::now(),
                stored: Mutex::new(Vec::new()),
            })
        }

        fn stored(&self) -> Vec<(Duration, Vec<String>)> {
            self.stored.lock().expect("lock").clone()
        }

        /// Waits (in paused time, so at no cost) until `count` events are stored.
        async fn until_stored(&self, count: usize) -> Vec<(Duration, Vec<String>)> {
            for _ in 0..1000 {
                let stored = self.stored();
                if stored.iter().map(|(_, jtis)| jtis.len()).sum::<usize>() >= count {
                    return stored;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            panic!("{count} events never stored: {:?}", self.stored());
        }
    }

    #[async_trait]
    impl AuditStore for Transactions {
        async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
            let jtis = records
                .iter()
                .map(|record| {
                    let detail: serde_json::Value =
                        serde_json::from_str(&record.detail).expect("json");
                    detail["jti"].as_str().expect("jti").to_owned()
                })
                .collect();
            self.stored
                .lock()
                .expect("lock")
                .push((self.started.elapsed(), jtis));
            Ok(())
        }

        async fn search_audit(&self, _: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
            Ok(Vec::new())
        }

        async fn purge_audit(&self, _: UnixSeconds) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn issued(number: usize) -> AuditEvent {
        AuditEvent::TokenIssued {
            grant_type: "client_credentials".into(),
            client_id: "svc".into(),
            subject: "svc".into(),
            jti: format!("{number}"),
            scope: "read".into(),
            audience: vec!["api".into()],
        }
    }

    fn jtis(numbers: std::ops::Range<usize>) -> Vec<String> {
        numbers.map(|number| number.to_string()).collect()
    }

    fn start() -> (AuditLog, Arc<Transactions>) {
        let transactions = Transactions::new();
        let log = AuditLog::start(transactions.clone(), Arc::new(SystemClock));
        (log, transactions)
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_event_is_stored_at_once() {
        let (log, transactions) = start();
        log.record(&issued(0));
        assert_eq!(
            transactions.until_stored(1).await,
            vec![(Duration::ZERO, jtis(0..1))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_arriving_together_wait_for_company_at_most_the_gathering_time() {
        let (log, transactions) = start();
        for number in 0..GATHER_FROM {
            log.record(&issued(number));
        }
        assert_eq!(
            transactions.until_stored(GATHER_FROM).await,
            vec![(GATHER, jtis(0..GATHER_FROM))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_batch_is_stored_at_once_and_the_rest_in_order() {
        let (log, transactions) = start();
        for number in 0..BATCH + 10 {
            log.record(&issued(number));
        }
        assert_eq!(
            transactions.until_stored(BATCH + 10).await,
            vec![
                (Duration::ZERO, jtis(0..BATCH)),
                (GATHER, jtis(BATCH..BATCH + 10))
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_flush_cuts_the_gathering_short() {
        let (log, transactions) = start();
        for number in 0..GATHER_FROM {
            log.record(&issued(number));
        }
        log.flush().await;
        assert_eq!(
            transactions.stored(),
            vec![(Duration::ZERO, jtis(0..GATHER_FROM))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn events_pending_when_the_log_is_dropped_are_stored() {
        let (log, transactions) = start();
        for number in 0..GATHER_FROM {
            log.record(&issued(number));
        }
        drop(log);
        assert_eq!(
            transactions.until_stored(GATHER_FROM).await,
            vec![(Duration::ZERO, jtis(0..GATHER_FROM))]
        );
    }
}
