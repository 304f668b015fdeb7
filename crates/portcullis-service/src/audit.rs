//! Audit events: each goes to the log under the target `portcullis::audit` (one JSON object, so a
//! log pipeline can route it to a separate sink) and into the store's audit log, written by a
//! background task in batches so a request never waits for it.

use crate::Store;
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
    pub fn start(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
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

async fn store_events(store: Arc<dyn Store>, mut pending: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut flushes = Vec::new();
    let mut received = Vec::with_capacity(BATCH);
    while pending.recv_many(&mut received, BATCH).await > 0 {
        // Under load, events gather for a moment so one transaction stores many: each commit
        // rewrites the pages of the table and its indexes, whatever the number of rows.
        let gathered_until = tokio::time::Instant::now() + GATHER;
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
            match tokio::time::timeout_at(gathered_until, pending.recv_many(&mut received, room))
                .await
            {
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
async fn append_with_retries(store: &dyn Store, batch: &[AuditRecord]) {
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
