//! The steady load: each worker repeats one kind of operation at its own pace until the script
//! says `stop`, counting every outcome in the current phase and every acknowledged write in the
//! ledger.

use crate::cluster::{Cluster, Refreshed};
use crate::ledger::Ledger;
use crate::phases::Phases;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the workers share.
#[derive(Clone)]
pub struct Load {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// Acknowledged writes.
    pub ledger: Arc<Ledger>,
    /// The current phase and its tally.
    pub phases: Phases,
    /// How long after a revocation is acknowledged every gateway must refuse the token.
    pub revocation_bound: Duration,
}

/// Rotations of one refresh token family before a new sign-in starts another.
const ROTATIONS_PER_FAMILY: u32 = 100;

impl Load {
    /// Starts every worker, each pausing between its requests (so these rates are upper
    /// bounds): tokens (2, at most 200/s each), refresh rotations after a sign-in (2, at most
    /// 100/s each), users (1, at most 5/s), proxied requests (2, at most 500/s each) and
    /// revocations (1, one token at a time).
    pub fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut workers = Vec::new();
        for index in 0..2 {
            workers.push(tokio::spawn(self.clone().tokens()));
            workers.push(tokio::spawn(self.clone().refreshes()));
            workers.push(tokio::spawn(self.clone().proxied(index)));
        }
        workers.push(tokio::spawn(self.clone().users()));
        workers.push(tokio::spawn(self.clone().revocations()));
        workers
    }

    async fn tokens(self) {
        while !self.phases.stopped() {
            let issued = self.cluster.service_token().await;
            self.phases.record("token", issued.is_ok());
            if let Ok(token) = issued {
                self.ledger.token_issued(token);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn refreshes(self) {
        while !self.phases.stopped() {
            let signed_in = self.cluster.sign_in().await;
            self.phases.record("sign-in", signed_in.is_ok());
            let Ok(first) = signed_in else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let chain = self.ledger.chain_started(first.clone());
            let mut current = first;
            for _ in 0..ROTATIONS_PER_FAMILY {
                if self.phases.stopped() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                match self.cluster.refresh(&current).await {
                    Ok(Refreshed::Rotated(next)) => {
                        self.phases.record("refresh", true);
                        self.ledger.rotated(chain, next.clone());
                        current = next;
                    }
                    // The newest token of the family refused: the check afterwards counts it
                    // as lost.
                    Ok(Refreshed::Refused) => {
                        self.phases.record("refresh", false);
                        eprintln!("a family's newest refresh token was refused");
                        break;
                    }
                    Err(_) => {
                        self.phases.record("refresh", false);
                        self.ledger.cut(chain);
                        break;
                    }
                }
            }
        }
    }

    async fn users(self) {
        let run = std::process::id();
        let mut made = 0usize;
        while !self.phases.stopped() {
            let username = format!("chaos-{run}-{made}");
            made += 1;
            let created = self.cluster.create_user(made, &username).await;
            if created.as_ref().is_err_and(|error| error.contains("401")) {
                // The admin token expired: renew it (the attempt still counts as failed).
                let _renewed = self.cluster.renew_admin_token().await;
            }
            self.phases.record("user", created.is_ok());
            if created.is_ok() {
                self.ledger.user_created(username);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn proxied(self, first_gateway: usize) {
        let mut token = None;
        let mut gateway = first_gateway;
        while !self.phases.stopped() {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let Some(current) = token.clone() else {
                token = self.cluster.service_token().await.ok();
                continue;
            };
            gateway += 1;
            let answered = self.cluster.proxy(gateway, &current).await;
            self.phases.record("proxy", answered == Ok(200));
            if answered == Ok(401) {
                token = None;
            }
        }
    }

    /// Gets a token, sees a gateway let it through, revokes it, then asks every gateway again
    /// every 50 ms until the bound has passed by half a second: a gateway letting it through
    /// after the bound is a violation.
    async fn revocations(self) {
        let probe_until = self.revocation_bound + Duration::from_millis(500);
        let mut round = 0usize;
        while !self.phases.stopped() {
            round += 1;
            let Ok(token) = self.cluster.service_token().await else {
                self.phases.record("revoke", false);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            if self.cluster.proxy(round, &token).await != Ok(200) {
                self.phases.record("revoke", false);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let revoked = self.cluster.revoke(&token).await;
            let acknowledged = Instant::now();
            self.phases.record("revoke", revoked.is_ok());
            if revoked.is_err() {
                continue;
            }
            self.ledger.revoked(token.clone());
            while acknowledged.elapsed() < probe_until {
                for gateway in 0..self.cluster.gateways() {
                    if self.cluster.proxy(gateway, &token).await == Ok(200) {
                        // Counted from the answer, not the question: a 200 that arrives after
                        // the bound is late.
                        let after = acknowledged.elapsed().as_millis();
                        self.ledger.revoked_token_accepted(
                            &token,
                            after,
                            self.revocation_bound.as_millis(),
                        );
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
