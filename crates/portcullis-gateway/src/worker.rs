//! The gateway's worker threads: one per core, each with its own single-threaded runtime that
//! accepts connections and serves them to the end, with its own upstream connection pools
//! ([`crate::upstream`]). A request then never crosses threads (no work stealing, no cross-thread
//! wake-ups), which cut the proxy's CPU per request (BENCHMARKS.md).

use std::sync::OnceLock;

/// How many worker threads serve the public listener: the cores this process may use.
pub fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}
