//! How many connections the gateway holds to one upstream, and who waits for one (Envoy's circuit
//! breakers: max connections, max pending requests). One budget per upstream pool slot, shared by
//! every worker thread, every route naming the upstream and every configuration reload.
//!
//! A connection holds a permit from the moment it is opened until its socket closes (the permit
//! lives in the connection's task), idle or busy, whichever thread's pool keeps it. A request that
//! finds no idle connection in its thread's pool and no permit left waits, at most
//! `pending_timeout`, in a queue of at most `max_pending`, for whichever comes first: a connection
//! another request finished with (handed over instead of going back to its pool) or a permit freed
//! by a closing connection; otherwise it is refused at once, to be answered 503 with
//! `Retry-After`. Each thread keeps at most `max_connections / (threads + 1)` idle connections per
//! upstream (none when the limit is below `threads + 1`), so idle connections can never hold every
//! permit: with nothing busy, a permit is free. A connection is only pooled by the thread whose
//! runtime drives it; one handed over to another thread goes back to a waiter or is closed.
//!
//! The permit travels with the socket ([`Budgeted`]), so a connection upgraded to a tunnel
//! (WebSocket) keeps counting until the tunnel closes.

use axum::body::Body;
use hyper::client::conn::http1;
use portcullis_service::WaitingLine;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// The largest `max_connections` accepted.
pub const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;

/// The limits of each upstream's connections (gateway-wide settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamLimits {
    /// Connections open to one upstream at once, idle or busy.
    pub max_connections: usize,
    /// Requests waiting for a connection to one upstream at once; more are refused at once.
    pub max_pending: usize,
    /// How long a request waits for a connection before it is refused.
    pub pending_timeout: Duration,
    /// Worker threads, each keeping idle connections of its own.
    pub threads: usize,
}

impl Default for UpstreamLimits {
    fn default() -> Self {
        UpstreamLimits {
            max_connections: 1024,
            max_pending: 10_000,
            pending_timeout: Duration::from_secs(2),
            threads: crate::worker::count(0),
        }
    }
}

/// The connections of one upstream pool slot.
#[derive(Debug)]
pub struct Budget {
    /// The pool slot it belongs to.
    pub slot: usize,
    permits: Arc<Semaphore>,
    /// The current `max_connections`.
    limit: AtomicUsize,
    /// Permits to take back as connections close, after the limit was lowered.
    owed: AtomicUsize,
    /// Idle connections kept per thread.
    idle_per_thread: AtomicUsize,
    max_pending: AtomicUsize,
    pending_timeout_ms: AtomicU64,
    waiting: WaitingLine,
    /// Where a finished connection is handed to a waiting request.
    handoff: Mutex<VecDeque<oneshot::Sender<Handed>>>,
}

/// A connection handed from one request to another, with the thread whose runtime drives it.
#[derive(Debug)]
pub struct Handed {
    /// The connection.
    pub sender: http1::SendRequest<Body>,
    /// The thread whose runtime drives it (only that thread pools it).
    pub owner: ThreadId,
}

/// The right to hold one open connection, given back when the connection's task ends.
#[derive(Debug)]
pub struct ConnectionPermit {
    permit: Option<OwnedSemaphorePermit>,
    budget: &'static Budget,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let owed = self
            .budget
            .owed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owed| {
                owed.checked_sub(1)
            });
        if let (Ok(_), Some(permit)) = (owed, self.permit.take()) {
            // The limit was lowered: this permit is not given back.
            permit.forget();
        }
    }
}

/// What a request waited for.
pub enum Turn {
    /// A permit to open a connection.
    Open(ConnectionPermit),
    /// A connection another request finished with.
    HandedOver(Handed),
}

/// A socket holding its connection's permit for as long as it is open, whether it carries
/// HTTP/1.1 or, after an upgrade, a tunnel.
pub struct Budgeted<I> {
    io: I,
    _permit: ConnectionPermit,
}

impl<I> Budgeted<I> {
    /// `io`, counted by `permit`.
    pub fn new(io: I, permit: ConnectionPermit) -> Self {
        Budgeted {
            io,
            _permit: permit,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Budgeted<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Budgeted<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The upstream has no connection for the request within its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded;

/// The budget of pool `slot`, created with `limits` if it is new (an existing one keeps its
/// limits until [`Budget::set_limits`], once a reloaded configuration is known to be valid).
pub fn budget(slot: usize, limits: UpstreamLimits) -> &'static Budget {
    static BUDGETS: OnceLock<Mutex<Vec<&'static Budget>>> = OnceLock::new();
    let mut budgets = BUDGETS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(budget) = budgets.iter().find(|budget| budget.slot == slot) {
        return budget;
    }
    // Slots are never freed (connections outlive reloads), so neither are their budgets: one
    // small allocation per upstream ever configured.
    let budget: &'static Budget = Box::leak(Box::new(Budget {
        slot,
        permits: Arc::new(Semaphore::new(bounded(limits.max_connections))),
        limit: AtomicUsize::new(bounded(limits.max_connections)),
        owed: AtomicUsize::new(0),
        idle_per_thread: AtomicUsize::new(idle_per_thread(limits)),
        max_pending: AtomicUsize::new(limits.max_pending),
        pending_timeout_ms: AtomicU64::new(millis(limits.pending_timeout)),
        waiting: WaitingLine::default(),
        handoff: Mutex::new(VecDeque::new()),
    }));
    budgets.push(budget);
    budget
}

/// `max_connections` within 1..=[`MAX_CONNECTIONS_LIMIT`] (the configuration checks it; this keeps
/// the semaphore valid whatever it is given).
fn bounded(max_connections: usize) -> usize {
    max_connections.clamp(1, MAX_CONNECTIONS_LIMIT)
}

/// Below `threads + 1`, none: idle connections must never hold every permit.
fn idle_per_thread(limits: UpstreamLimits) -> usize {
    bounded(limits.max_connections) / (limits.threads.max(1) + 1)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Budget {
    /// Applies `limits` (a reload's): a higher limit at once, a lower one as connections close.
    pub fn set_limits(&self, limits: UpstreamLimits) {
        let wanted = bounded(limits.max_connections);
        let current = self.limit.swap(wanted, Ordering::AcqRel);
        if wanted > current {
            // Debts first: permits still owed from an earlier lowering are simply kept.
            let more = wanted - current;
            let forgiven = self
                .owed
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |owed| {
                    Some(owed.saturating_sub(more))
                })
                .map_or(0, |owed| owed.min(more));
            self.permits.add_permits(more - forgiven);
        } else if wanted < current {
            let fewer = current - wanted;
            let taken = self.permits.forget_permits(fewer);
            self.owed.fetch_add(fewer - taken, Ordering::AcqRel);
        }
        self.idle_per_thread
            .store(idle_per_thread(limits), Ordering::Release);
        self.max_pending
            .store(limits.max_pending, Ordering::Release);
        self.pending_timeout_ms
            .store(millis(limits.pending_timeout), Ordering::Release);
    }

    /// Idle connections each thread keeps.
    pub fn idle_per_thread(&self) -> usize {
        self.idle_per_thread.load(Ordering::Acquire)
    }

    /// A permit to open a connection now, if one is free.
    pub fn try_open(&'static self) -> Option<ConnectionPermit> {
        self.permits
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|permit| ConnectionPermit {
                permit: Some(permit),
                budget: self,
            })
    }

    /// Waits for a permit or a handed-over connection, within the pending limits.
    ///
    /// # Errors
    /// [`Overloaded`]: the queue is full, or the wait timed out.
    pub async fn wait_for_turn(&'static self) -> Result<Turn, Overloaded> {
        if let Some(permit) = self.try_open() {
            return Ok(Turn::Open(permit));
        }
        let Some(_waiting) = self.waiting.join(self.max_pending.load(Ordering::Acquire)) else {
            return Err(Overloaded);
        };
        let (handed, handed_over) = oneshot::channel();
        {
            let mut queue = self
                .handoff
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Waiters that gave up leave their senders behind: the oldest go as we pass (the
            // rest when `hand_over` reaches them), so the queue stays within the waiting bound.
            while queue.front().is_some_and(oneshot::Sender::is_closed) {
                queue.pop_front();
            }
            queue.push_back(handed);
        }
        let timeout = Duration::from_millis(self.pending_timeout_ms.load(Ordering::Acquire));
        let turn = async {
            tokio::select! {
                biased;
                Ok(connection) = handed_over => Some(Turn::HandedOver(connection)),
                permit = self.permits.clone().acquire_owned() => permit.ok().map(|permit| {
                    Turn::Open(ConnectionPermit { permit: Some(permit), budget: self })
                }),
            }
        };
        tokio::time::timeout(timeout, turn)
            .await
            .ok()
            .flatten()
            .ok_or(Overloaded)
    }

    /// Hands `connection` to a waiting request, if one waits; otherwise gives it back.
    pub fn hand_over(&self, mut connection: Handed) -> Option<Handed> {
        if self.waiting.is_empty() {
            return Some(connection);
        }
        let mut queue = self
            .handoff
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while let Some(waiter) = queue.pop_front() {
            match waiter.send(connection) {
                Ok(()) => return None,
                // It gave up meanwhile: the next one.
                Err(back) => connection = back,
            }
        }
        Some(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::{UpstreamLimits, budget};
    use std::time::Duration;

    fn limits(max_connections: usize, max_pending: usize) -> UpstreamLimits {
        UpstreamLimits {
            max_connections,
            max_pending,
            pending_timeout: Duration::from_millis(50),
            threads: 2,
        }
    }

    #[tokio::test]
    async fn permits_are_capped_queued_and_given_back() {
        let budget = budget(usize::MAX - 1, limits(2, 1));
        let first = budget.try_open().expect("first");
        let second = budget.try_open().expect("second");
        assert!(budget.try_open().is_none(), "at the limit");
        // One may wait; it times out as nothing is freed.
        assert!(budget.wait_for_turn().await.is_err());
        drop(first);
        assert!(matches!(
            budget.wait_for_turn().await,
            Ok(super::Turn::Open(_))
        ));
        drop(second);
        assert_eq!(
            budget.idle_per_thread(),
            0,
            "2 / (2 threads + 1): none kept idle"
        );
        budget.set_limits(limits(6, 1));
        assert_eq!(budget.idle_per_thread(), 2, "6 / (2 threads + 1)");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let budget = budget(usize::MAX - 2, limits(1, 0));
        let _held = budget.try_open().expect("the one connection");
        let started = std::time::Instant::now();
        assert!(budget.wait_for_turn().await.is_err());
        assert!(started.elapsed() < Duration::from_millis(40), "no wait");
    }

    #[tokio::test]
    async fn lowering_the_limit_takes_permits_back_as_connections_close() {
        let slot = usize::MAX - 3;
        let budget = budget(slot, limits(3, 0));
        let held: Vec<_> = (0..3).map(|_| budget.try_open().expect("open")).collect();
        // Another build naming the slot does not change it; applying a valid table's limits does.
        assert!(std::ptr::eq(super::budget(slot, limits(1, 0)), budget));
        budget.set_limits(limits(1, 0));
        drop(held);
        let one = budget.try_open().expect("one is allowed");
        assert!(budget.try_open().is_none(), "only one now");
        drop(one);
        budget.set_limits(limits(2, 0));
        let _a = budget.try_open().expect("raised again");
        let _b = budget.try_open().expect("two");
        assert!(budget.try_open().is_none());
    }
}
