//! What a request may make the server fetch from URLs that requests name (client metadata
//! documents, request objects by reference): each network (an IPv4 address or an IPv6 /64)
//! a few fetches per window, counted before the fetch on the sign-in throttle's rule (then
//! locked) and never given back, and at most a few fetches at once, so nobody can use the
//! server to flood a host, the store or the audit log.

use crate::{SignInThrottle, StoreError};
use portcullis_core::UnixSeconds;
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Most fetches at once; further ones wait for a turn.
const CONCURRENT_FETCHES: usize = 8;
/// How long a fetch waits for its turn before it is refused.
const TURN_WAIT: Duration = Duration::from_secs(5);

/// Why a fetch may not happen.
#[derive(Debug, thiserror::Error)]
pub enum FetchRefusal {
    /// The requester's network made the server fetch enough for now.
    #[error("too many fetches for this network; try again later")]
    Throttled,
    /// Too many fetches are under way.
    #[error("the server is fetching too much at once")]
    Busy,
    /// The counters could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Turns to fetch, shared by every request of a server.
#[derive(Debug)]
pub struct FetchBudget {
    turns: Semaphore,
}

impl Default for FetchBudget {
    fn default() -> Self {
        FetchBudget {
            turns: Semaphore::new(CONCURRENT_FETCHES),
        }
    }
}

impl FetchBudget {
    /// A turn to fetch for a request from `requester` at `now`, counted by `throttle`; the
    /// fetch holds it while it runs.
    ///
    /// # Errors
    /// [`FetchRefusal`].
    pub async fn turn(
        &self,
        throttle: &dyn SignInThrottle,
        now: UnixSeconds,
        requester: IpAddr,
    ) -> Result<SemaphorePermit<'_>, FetchRefusal> {
        let keys = AttemptKeys::per_network("fetch", requester);
        if let ThrottleDecision::Locked(_) = throttle.reserve(&keys, now).await? {
            return Err(FetchRefusal::Throttled);
        }
        tokio::time::timeout(TURN_WAIT, self.turns.acquire())
            .await
            .map_err(|_| FetchRefusal::Busy)?
            .map_err(|_| FetchRefusal::Busy)
    }
}
