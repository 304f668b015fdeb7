//! Logging: `tracing` to stderr, as text or JSON, filtered by `log.level` (or `RUST_LOG`).

use crate::config::LogConfig;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Called once by server commands; CLI commands stay quiet.
pub fn init(log: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = if log.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if installed.is_err() {
        eprintln!("warning: logging was already initialised");
    }
}
