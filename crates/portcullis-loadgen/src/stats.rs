//! Latency percentiles and server CPU time.

use std::time::Duration;

/// The figures of one run.
pub struct Report {
    operations: usize,
    failures: u64,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_micros_per_op: Option<f64>,
    refused: usize,
    refused_p99: Duration,
}

/// The `quantile` of sorted `latencies` (zero when there are none).
fn quantile(latencies: &[Duration], quantile: f64) -> Duration {
    let index = ((latencies.len() as f64 - 1.0) * quantile).round() as usize;
    latencies.get(index).copied().unwrap_or_default()
}

impl Report {
    /// Summarises `latencies` of successful operations and of `refused` ones over `elapsed`,
    /// with the server's CPU microseconds over the same window.
    pub fn new(
        mut latencies: Vec<Duration>,
        mut refused: Vec<Duration>,
        failures: u64,
        elapsed: Duration,
        cpu_micros: Option<u64>,
    ) -> Self {
        latencies.sort_unstable();
        refused.sort_unstable();
        let operations = latencies.len();
        Report {
            operations,
            failures,
            per_second: operations as f64 / elapsed.as_secs_f64(),
            p50: quantile(&latencies, 0.50),
            p99: quantile(&latencies, 0.99),
            refused: refused.len(),
            refused_p99: quantile(&refused, 0.99),
            cpu_micros_per_op: cpu_micros
                .filter(|_| operations > 0)
                .map(|micros| micros as f64 / operations as f64),
        }
    }

    /// `scenario ops ops/s p50 p99 cpu failures refused refused-p99` as one tab-separated line
    /// (read by `bench/` scripts).
    pub fn line(&self, scenario: &str) -> String {
        format!(
            "{scenario}\t{}\t{:.0}\t{:.2}\t{:.2}\t{}\t{}\t{}\t{:.2}",
            self.operations,
            self.per_second,
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.cpu_micros_per_op
                .map_or_else(|| "-".to_owned(), |cpu| format!("{cpu:.0}")),
            self.failures,
            self.refused,
            self.refused_p99.as_secs_f64() * 1000.0,
        )
    }
}

/// User plus system CPU time of `pids` so far, in microseconds.
pub fn cpu_micros(pids: &[u32]) -> u64 {
    // Clock ticks per second: 100 on every Linux this runs on (`getconf CLK_TCK`).
    const TICKS_PER_SECOND: u64 = 100;
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name (which may hold spaces) start after the last ')'.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let user: u64 = fields.get(11)?.parse().ok()?;
            let system: u64 = fields.get(12)?.parse().ok()?;
            Some((user + system) * 1_000_000 / TICKS_PER_SECOND)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::{Report, cpu_micros};
    use std::time::Duration;

    #[test]
    fn percentiles_and_cpu_per_operation() {
        let latencies = (1..=100).map(Duration::from_millis).collect();
        let refused = vec![Duration::from_millis(3), Duration::from_millis(1)];
        let report = Report::new(latencies, refused, 0, Duration::from_secs(2), Some(1_000));
        assert_eq!(report.operations, 100);
        assert_eq!(
            (report.refused, report.refused_p99),
            (2, Duration::from_millis(3))
        );
        assert!((report.per_second - 50.0).abs() < f64::EPSILON);
        assert_eq!(report.p50, Duration::from_millis(51));
        assert_eq!(report.p99, Duration::from_millis(99));
        assert_eq!(report.cpu_micros_per_op, Some(10.0));
        assert!(
            report.line("x").ends_with("\t10\t0\t2\t3.00"),
            "{}",
            report.line("x")
        );
    }

    #[test]
    fn reads_this_process_cpu_time() {
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(cpu_micros(&[std::process::id()]) > 0);
    }
}
