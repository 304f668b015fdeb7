//! `portcullis-chaos`: steady load on a cluster of auth servers and gateways while
//! `bench/chaos.sh` disrupts it (kills a server, restarts PostgreSQL and Redis, kills a
//! gateway), naming each phase in a file. When the file says `stop`, the driver prints what
//! failed in each phase and how long failures went on, then checks every write the cluster
//! acknowledged (users, tokens, refresh rotations, revocations) against it, and every revoked
//! token a gateway let through after the propagation bound. It exits 1 when anything was lost.

mod cluster;
mod ledger;
mod phases;
mod workers;

use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Command line.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    /// The issuer (a load balancer over the auth servers).
    #[arg(long)]
    issuer: String,
    /// An auth server's admin listener (repeat for each).
    #[arg(long = "admin", required = true)]
    admins: Vec<String>,
    /// An authenticated gateway route (repeat for each gateway).
    #[arg(long = "gateway", required = true)]
    gateways: Vec<String>,
    /// The confidential client whose client-credentials tokens are issued, proxied and revoked.
    #[arg(long)]
    service: String,
    /// Its secret.
    #[arg(long)]
    service_secret: String,
    /// A client with `portcullis:introspect` for the service's audience.
    #[arg(long)]
    introspector: String,
    /// Its secret.
    #[arg(long)]
    introspector_secret: String,
    /// A client with `portcullis:admin` (users are created through the admin API).
    #[arg(long)]
    operator: String,
    /// Its secret.
    #[arg(long)]
    operator_secret: String,
    /// The public client users sign in to (authorization code, refresh tokens).
    #[arg(long)]
    app: String,
    /// Its redirect URI.
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    /// The user who signs in.
    #[arg(long)]
    username: String,
    /// Their password.
    #[arg(long)]
    password: String,
    /// The file naming the current phase (`stop` ends the run).
    #[arg(long)]
    phase_file: PathBuf,
    /// Milliseconds after a revocation is acknowledged within which every gateway must refuse
    /// the token.
    #[arg(long, default_value_t = 1000)]
    revocation_bound_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The driver gets one core's worth of threads; the cluster keeps the rest.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let violations = runtime.block_on(run(args))?;
    if violations > 0 {
        anyhow::bail!("{violations} acknowledged writes lost or revoked tokens accepted late");
    }
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<u64> {
    let cluster = Arc::new(cluster::Cluster::new(&args)?);
    cluster
        .renew_admin_token()
        .await
        .map_err(|error| anyhow::anyhow!("no admin token: {error}"))?;
    let phases = phases::Phases::default();
    let follower = phases.follow(args.phase_file.clone());
    let load = workers::Load {
        cluster: cluster.clone(),
        ledger: Arc::new(ledger::Ledger::default()),
        phases: phases.clone(),
        revocation_bound: Duration::from_millis(args.revocation_bound_ms),
    };
    let workers = load.start();
    follower.await?;
    // A worker that stopped early (a panic) made the load lighter than the report says.
    let mut stopped_early = 0;
    for worker in workers {
        if let Err(error) = worker.await {
            eprintln!("a worker stopped early: {error}");
            stopped_early += 1;
        }
    }

    println!(
        "{:<16} {:>7} | {}",
        "phase",
        "seconds",
        phases::KINDS
            .iter()
            .map(|kind| format!("{kind:>16}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for phase in phases.report() {
        let cells: Vec<String> = phase
            .counts
            .iter()
            .map(|(_, counts)| {
                format!(
                    "{:>16}",
                    format!("{}/{}", counts.failed, counts.done + counts.failed)
                )
            })
            .collect();
        let last_failure = phase
            .counts
            .iter()
            .filter_map(|(_, counts)| counts.last_failure)
            .max()
            .map_or_else(
                || "none".to_owned(),
                |at| format!("+{:.1} s", at.as_secs_f64()),
            );
        println!(
            "{:<16} {:>7.1} | {} | last failure {last_failure}",
            phase.name,
            phase.length.as_secs_f64(),
            cells.join(" ")
        );
    }
    println!("(cells: failed/attempted)");
    cluster
        .renew_admin_token()
        .await
        .map_err(|error| anyhow::anyhow!("no admin token for the check: {error}"))?;
    let findings = load.ledger.check(&cluster).await;
    for line in &findings.lines {
        println!("{line}");
    }
    println!("workers stopped early: {stopped_early}");
    println!("lost or late: {}", findings.violations);
    Ok(findings.violations + stopped_early)
}
