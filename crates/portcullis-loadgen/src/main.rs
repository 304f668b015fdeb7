#![allow(clippy::expect_used, clippy::panic)] // a benchmark driver: a broken setup stops it loudly

//! `portcullis-loadgen`: drives one scenario against a running auth server for a fixed time with
//! N concurrent workers, then prints one line: operations, operations per second, p50 and p99
//! latency, the server's CPU microseconds per operation (read from `/proc/<pid>/stat` of each
//! `--pid` before and after, which on shared cores is fairer than throughput), failures, and the
//! operations the server refused as overloaded (503) with their p99 latency.

mod scenarios;
mod stats;

use clap::{Parser, ValueEnum};
use std::time::{Duration, Instant};

/// What one operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// `POST /token` with `grant_type=client_credentials`.
    ClientCredentials,
    /// `POST /token` with `grant_type=refresh_token`, each worker rotating its own family.
    Refresh,
    /// A whole Authorization Code + PKCE flow in a fresh browser: sign-in with the real password
    /// hash, remembered consent, code exchange.
    CodeFlow,
    /// The sign-in form of a fresh browser's authorization request (fetched untimed before
    /// each operation), posted with the real password hash: at saturation, what admission
    /// control answers (signed in, or 503), timed from the post to its answer.
    SignIn,
    /// `GET --gateway` with a bearer token (client credentials) through the gateway.
    GatewayBearer,
    /// `GET --gateway` with a DPoP-bound token and a fresh proof per request (signed before the
    /// clock starts, so the driver's signing does not compete with the gateway for the cores).
    GatewayDpop,
}

/// Command line.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The scenario.
    #[arg(value_enum)]
    scenario: Scenario,
    /// The auth server's base URL (its issuer).
    #[arg(long)]
    url: String,
    /// Client id.
    #[arg(long)]
    client: String,
    /// Client secret (client credentials).
    #[arg(long)]
    secret: Option<String>,
    /// Redirect URI (refresh and code flow).
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    /// Username (refresh and code flow).
    #[arg(long, default_value = "bench")]
    username: String,
    /// Password (refresh and code flow).
    #[arg(long, default_value = "bench password 1")]
    password: String,
    /// The gateway URL of the gateway scenarios (an authenticated route).
    #[arg(long)]
    gateway: Option<String>,
    /// DPoP proofs made in advance (gateway-dpop): at least the requests of the run.
    #[arg(long, default_value_t = 150_000)]
    proofs: usize,
    /// Concurrent workers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds (after one warm-up second).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Server processes whose CPU time is charged to the operations.
    #[arg(long = "pid")]
    pids: Vec<u32>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The driver gets one core's worth of threads; the server under test keeps the rest.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let target = scenarios::Target::new(&args).await?;
    // Set every worker up (refresh: one sign-in each) before the clock starts.
    let mut states = Vec::new();
    for _ in 0..args.concurrency {
        states.push(target.prepare().await?);
    }
    let warm_up = Instant::now() + Duration::from_secs(1);
    let end = warm_up + Duration::from_secs(args.duration_secs);
    let cpu_before = std::sync::Arc::new(tokio::sync::OnceCell::new());
    let mut workers = Vec::new();
    for mut state in states {
        let target = target.clone();
        let pids = args.pids.clone();
        let cpu_before = cpu_before.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused = Vec::new();
            let mut failures = 0u64;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                if now >= warm_up {
                    cpu_before
                        .get_or_init(|| async { stats::cpu_micros(&pids) })
                        .await;
                }
                if !target.set_up(&mut state).await {
                    if now >= warm_up {
                        failures += 1;
                    }
                    continue;
                }
                let started = Instant::now();
                let outcome = target.operate(&mut state).await;
                if started >= warm_up {
                    match outcome {
                        scenarios::Outcome::Done => latencies.push(started.elapsed()),
                        scenarios::Outcome::Refused => refused.push(started.elapsed()),
                        scenarios::Outcome::Failed => failures += 1,
                    }
                }
            }
            anyhow::Ok((latencies, refused, failures))
        }));
    }
    let mut latencies = Vec::new();
    let mut refused = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (mut own, mut own_refused, failed) = worker.await??;
        latencies.append(&mut own);
        refused.append(&mut own_refused);
        failures += failed;
    }
    let cpu_after = stats::cpu_micros(&args.pids);
    let cpu = cpu_before
        .get()
        .map(|before| cpu_after.saturating_sub(*before));
    let report = stats::Report::new(
        latencies,
        refused,
        failures,
        Duration::from_secs(args.duration_secs),
        cpu,
    );
    println!("{}", report.line(&format!("{:?}", args.scenario)));
    if failures > 0 {
        anyhow::bail!("{failures} operations failed");
    }
    Ok(())
}
