//! Admission control: at most `capacity` holders at once; others wait in a queue of at most
//! `max_waiting` for at most `max_wait`, else are refused at once. A refusal is answered quickly
//! (503 with `Retry-After`) instead of queueing for seconds. Used for the Argon2 verifications of
//! sign-ins.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits of one admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Holders at once.
    pub capacity: usize,
    /// Callers waiting at once; more are refused at once.
    pub max_waiting: usize,
    /// How long a caller waits before it is refused.
    pub max_wait: Duration,
}

/// Why a caller was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue is full.
    QueueFull,
    /// The wait timed out.
    TimedOut,
}

/// Permits, and who waits for one.
#[derive(Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    waiting: WaitingLine,
    limits: AdmissionLimits,
}

/// Callers waiting for something, counted, with room for at most a given number.
#[derive(Debug, Default)]
pub struct WaitingLine(AtomicUsize);

/// One caller's place in a [`WaitingLine`], given up when dropped.
#[derive(Debug)]
pub struct InLine<'a>(&'a AtomicUsize);

impl WaitingLine {
    /// A place in the line if fewer than `max` wait; a caller without one is never counted.
    pub fn join(&self, max: usize) -> Option<InLine<'_>> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                (waiting < max).then_some(waiting + 1)
            })
            .ok()
            .map(|_| InLine(&self.0))
    }

    /// Callers waiting now.
    pub fn len(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// An admission of `limits` (a capacity of at least one).
    pub fn new(limits: AdmissionLimits) -> Self {
        Admission {
            permits: Arc::new(Semaphore::new(limits.capacity.max(1))),
            waiting: WaitingLine::default(),
            limits,
        }
    }

    /// A permit, held until dropped: at once if one is free, else after waiting in the queue.
    ///
    /// # Errors
    /// [`Refusal`] when the queue is full or the wait timed out.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        // Counted only when there is room: a refused caller never shows as waiting.
        let Some(_waiting) = self.waiting.join(self.limits.max_waiting) else {
            return Err(Refusal::QueueFull);
        };
        match tokio::time::timeout(self.limits.max_wait, self.permits.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed: a failure is the wait's.
            Ok(Err(_)) | Err(_) => Err(Refusal::TimedOut),
        }
    }

    /// A permit, however long it takes (for a caller already committed, outside the queue's
    /// limits); `None` only if the permits were closed, which they never are.
    pub async fn wait(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Callers waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(capacity: usize, max_waiting: usize, wait_ms: u64) -> Arc<Admission> {
        Arc::new(Admission::new(AdmissionLimits {
            capacity,
            max_waiting,
            max_wait: Duration::from_millis(wait_ms),
        }))
    }

    #[tokio::test]
    async fn holders_are_capped_then_queued_then_refused() {
        let admission = admission(1, 1, 50);
        let held = admission.admit().await.expect("free");
        // One waits (and times out); with it waiting, the next is refused at once.
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(admission.waiting(), 1);
        assert_eq!(admission.admit().await.map(drop), Err(Refusal::QueueFull));
        assert_eq!(
            admission.waiting(),
            1,
            "a refused caller never counts as waiting"
        );
        assert_eq!(waiter.await.expect("task"), Err(Refusal::TimedOut));
        assert_eq!(admission.waiting(), 0);
        // A freed permit goes to the next one.
        drop(held);
        assert!(admission.admit().await.is_ok());
    }

    #[tokio::test]
    async fn a_waiter_gets_the_permit_a_holder_frees() {
        let admission = admission(1, 8, 2_000);
        let held = admission.admit().await.expect("free");
        let waiter = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        assert_eq!(waiter.await.expect("task"), Ok(()));
    }
}
