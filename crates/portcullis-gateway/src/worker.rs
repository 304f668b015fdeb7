//! The gateway's worker threads (by default one per core), each with its own single-threaded
//! runtime that accepts connections and serves them to the end, with its own upstream connection
//! pools ([`crate::upstream`]). A request then never crosses threads (no work stealing, no
//! cross-thread wake-ups), which cut the proxy's CPU per request (BENCHMARKS.md).

/// How many worker threads serve the public listener: `configured`, or with 0 the cores this
/// process may use (`available_parallelism` follows CPU affinity and cgroup quotas).
pub fn count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_count_wins_and_zero_means_one_per_core() {
        assert_eq!(count(3), 3);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(count(0), cores);
    }
}
