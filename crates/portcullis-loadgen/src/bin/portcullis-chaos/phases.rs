//! The run's phases, named by the script in a file as it disrupts the cluster, and what every
//! operation did in each: counts per phase and kind, and when the last failure came.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The kinds of operation the workers run, in report order.
pub const KINDS: [&str; 6] = ["token", "refresh", "sign-in", "user", "proxy", "revoke"];

/// The phase the script last named, and the tally of each phase.
#[derive(Clone, Default)]
pub struct Phases {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// Every phase seen, in order, with when it began.
    seen: Vec<(String, Instant)>,
    tally: BTreeMap<(usize, &'static str), Counts>,
}

/// What the operations of one kind did in one phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Succeeded.
    pub done: u64,
    /// Failed (an error answer, a timeout, a refused connection).
    pub failed: u64,
    /// How long after the phase began the last failure came.
    pub last_failure: Option<Duration>,
}

/// One phase's line of the report.
pub struct PhaseReport {
    /// Its name.
    pub name: String,
    /// How long it lasted.
    pub length: Duration,
    /// Counts per kind.
    pub counts: Vec<(&'static str, Counts)>,
}

impl Phases {
    /// Follows `file` (re-read every 50 ms) until it says `stop`.
    pub fn follow(&self, file: PathBuf) -> tokio::task::JoinHandle<()> {
        let phases = self.clone();
        tokio::spawn(async move {
            loop {
                let named = tokio::fs::read_to_string(&file).await.unwrap_or_default();
                let named = named.trim();
                if !named.is_empty() {
                    phases.enter(named);
                }
                if named == "stop" {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    fn enter(&self, name: &str) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.seen.last().is_none_or(|(last, _)| last != name) {
            inner.seen.push((name.to_owned(), Instant::now()));
        }
    }

    /// Whether the script said `stop`.
    pub fn stopped(&self) -> bool {
        self.inner
            .lock()
            .map(|inner| inner.seen.last().is_some_and(|(name, _)| name == "stop"))
            .unwrap_or(true)
    }

    /// Counts one operation of `kind` in the current phase.
    pub fn record(&self, kind: &'static str, succeeded: bool) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let Some(current) = inner.seen.len().checked_sub(1) else {
            return;
        };
        let began = inner.seen[current].1;
        let counts = inner.tally.entry((current, kind)).or_default();
        if succeeded {
            counts.done += 1;
        } else {
            counts.failed += 1;
            counts.last_failure = Some(began.elapsed());
        }
    }

    /// Every phase but `stop`, with its counts.
    pub fn report(&self) -> Vec<PhaseReport> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        let mut phases = Vec::new();
        for (index, (name, began)) in inner.seen.iter().enumerate() {
            if name == "stop" {
                continue;
            }
            let ended = inner
                .seen
                .get(index + 1)
                .map_or_else(Instant::now, |(_, next)| *next);
            let counts = KINDS
                .iter()
                .map(|kind| {
                    let counts = inner.tally.get(&(index, *kind)).copied();
                    (*kind, counts.unwrap_or_default())
                })
                .collect();
            phases.push(PhaseReport {
                name: name.clone(),
                length: ended.saturating_duration_since(*began),
                counts,
            });
        }
        phases
    }
}
