//! How many connections one upstream of a route may have open at once, and how many requests may
//! wait for one (Envoy's circuit breakers: max connections, max pending requests): a request
//! that finds no idle connection opens one if the budget allows, else waits in a bounded queue
//! for at most the queue timeout, else is refused at once. The gateway answers a refusal with
//! 503 and `Retry-After` instead of opening a connection per in-flight request until the upstream
//! times connects out. A connection holds its permit from the moment it is opened until it
//! closes, wherever it is (in flight, or idle in a worker thread's pool).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits of one upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// Requests waiting for a connection at once; more are refused at once.
    pub max_pending: usize,
    /// How long a request waits for a connection before it is refused.
    pub queue_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            max_pending: 4096,
            queue_timeout: Duration::from_secs(2),
        }
    }
}

/// The permits of one upstream, and who waits for one.
#[derive(Debug)]
pub struct ConnectionBudget {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    limits: ConnectionLimits,
}

/// Why no connection may be opened now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue is full.
    QueueFull,
    /// The queue timeout passed.
    QueueTimeout,
}

/// Counts one waiting request while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ConnectionBudget {
    /// A budget of `limits`.
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(ConnectionBudget {
            permits: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            waiting: AtomicUsize::new(0),
            limits,
        })
    }

    /// A permit to open a connection: at once if one is free, else after waiting in the queue.
    ///
    /// # Errors
    /// [`Refusal`] when the queue is full or the wait timed out.
    pub async fn permit(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let before = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        if before >= self.limits.max_pending {
            return Err(Refusal::QueueFull);
        }
        match tokio::time::timeout(
            self.limits.queue_timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a timeout is the queue's.
            Ok(Err(_)) | Err(_) => Err(Refusal::QueueTimeout),
        }
    }

    /// Whether requests wait for a connection: a finished connection then closes (freeing its
    /// permit for them) instead of idling in one thread's pool, where another thread's waiting
    /// request could not take it.
    pub fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::Acquire) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max_connections: usize, max_pending: usize, queue_ms: u64) -> Arc<ConnectionBudget> {
        ConnectionBudget::new(ConnectionLimits {
            max_connections,
            max_pending,
            queue_timeout: Duration::from_millis(queue_ms),
        })
    }

    #[tokio::test]
    async fn permits_are_capped_then_queued_then_refused() {
        let budget = budget(1, 1, 50);
        let held = budget.permit().await.expect("free");
        // One waits (and times out); with it waiting, the next is refused at once.
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.permit().await.map(drop) })
        };
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(budget.has_waiters());
        assert_eq!(budget.permit().await.map(drop), Err(Refusal::QueueFull));
        assert_eq!(waiter.await.expect("task"), Err(Refusal::QueueTimeout));
        assert!(!budget.has_waiters());
        // A freed permit goes to the next one.
        drop(held);
        assert!(budget.permit().await.is_ok());
    }

    #[tokio::test]
    async fn a_waiter_gets_the_permit_a_closing_connection_frees() {
        let budget = budget(1, 8, 2_000);
        let held = budget.permit().await.expect("free");
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.permit().await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        assert_eq!(waiter.await.expect("task"), Ok(()));
    }
}
