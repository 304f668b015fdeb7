//! The writes the cluster acknowledged during the run, checked against it afterwards: each must
//! still be there (a user readable, a token active, a rotation's newest refresh token
//! redeemable, a revoked token inactive).

use crate::cluster::Cluster;
use portcullis_sdk::unix_now;
use std::sync::Mutex;

/// Acknowledged writes.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Writes>,
}

#[derive(Default)]
struct Writes {
    users: Vec<String>,
    tokens: Vec<String>,
    chains: Vec<Chain>,
    revoked: Vec<String>,
    /// A revoked token a gateway let through after the propagation bound.
    late_acceptances: Vec<String>,
    /// A revoked token a gateway let through within the bound: how often, and the latest.
    acceptances_within_bound: u64,
    latest_within_bound_ms: u128,
}

/// One refresh token family, rotated by one worker.
struct Chain {
    /// The refresh token the last acknowledged rotation gave.
    newest: String,
    /// Acknowledged rotations.
    rotations: u64,
    /// A rotation went unanswered: whether it happened is unknown, so the newest token may be
    /// used up (and redeeming it again would rightly revoke the family). Not checked.
    cut: bool,
}

/// A family's index in the ledger.
#[derive(Debug, Clone, Copy)]
pub struct ChainId(usize);

/// What the check found.
pub struct Findings {
    /// Lines of the report.
    pub lines: Vec<String>,
    /// Acknowledged writes lost, and revoked tokens accepted past the bound.
    pub violations: u64,
}

impl Ledger {
    fn writes(&self) -> std::sync::MutexGuard<'_, Writes> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A user the admin API created (201).
    pub fn user_created(&self, username: String) {
        self.writes().users.push(username);
    }

    /// An access token the token endpoint issued (200).
    pub fn token_issued(&self, token: String) {
        self.writes().tokens.push(token);
    }

    /// A new family from a sign-in; its first refresh token.
    pub fn chain_started(&self, refresh_token: String) -> ChainId {
        let mut writes = self.writes();
        writes.chains.push(Chain {
            newest: refresh_token,
            rotations: 0,
            cut: false,
        });
        ChainId(writes.chains.len() - 1)
    }

    /// A rotation answered with `refresh_token`.
    pub fn rotated(&self, chain: ChainId, refresh_token: String) {
        if let Some(chain) = self.writes().chains.get_mut(chain.0) {
            chain.newest = refresh_token;
            chain.rotations += 1;
        }
    }

    /// A rotation that went unanswered.
    pub fn cut(&self, chain: ChainId) {
        if let Some(chain) = self.writes().chains.get_mut(chain.0) {
            chain.cut = true;
        }
    }

    /// A revocation the auth server acknowledged (200).
    pub fn revoked(&self, token: String) {
        self.writes().revoked.push(token);
    }

    /// A gateway let `token` through `after_ms` after its revocation was acknowledged.
    pub fn revoked_token_accepted(&self, token: &str, after_ms: u128, bound_ms: u128) {
        let mut writes = self.writes();
        if after_ms > bound_ms {
            writes
                .late_acceptances
                .push(format!("{}… {after_ms} ms after", prefix(token)));
        } else {
            writes.acceptances_within_bound += 1;
            writes.latest_within_bound_ms = writes.latest_within_bound_ms.max(after_ms);
        }
    }

    /// Checks every acknowledged write against the cluster.
    pub async fn check(&self, cluster: &Cluster) -> Findings {
        let (users, tokens, chains, revoked, late, (within, latest)) = {
            let writes = self.writes();
            let chains: Vec<(String, u64, bool)> = writes
                .chains
                .iter()
                .map(|chain| (chain.newest.clone(), chain.rotations, chain.cut))
                .collect();
            (
                writes.users.clone(),
                writes.tokens.clone(),
                chains,
                writes.revoked.clone(),
                writes.late_acceptances.clone(),
                (
                    writes.acceptances_within_bound,
                    writes.latest_within_bound_ms,
                ),
            )
        };
        let mut lines = Vec::new();

        let users_checked = verify(&users, |username| cluster.user_exists(username)).await;
        lines.push(format!(
            "users created: {}, {}",
            users.len(),
            users_checked.describe("lost")
        ));
        // JWTs: introspection checks their signature, expiry and the revocation list, so this
        // shows the signing keys (and the list) survived, not a stored row per token.
        let (tokens, expired_tokens) = by_expiry(tokens);
        let tokens_checked = verify(&tokens, |token| cluster.token_active(token)).await;
        lines.push(format!(
            "access tokens issued: {} ({} expired, unverified), {}",
            tokens.len() + expired_tokens.len(),
            expired_tokens.len(),
            tokens_checked.describe("inactive when introspected afterwards")
        ));
        let rotations: u64 = chains.iter().map(|(_, rotations, _)| rotations).sum();
        let newest: Vec<String> = chains
            .iter()
            .filter(|(_, _, cut)| !cut)
            .map(|(newest, _, _)| newest.clone())
            .collect();
        let rotations_checked = verify(&newest, |token| cluster.refresh_redeems(token)).await;
        lines.push(format!(
            "refresh rotations: {rotations} in {} families ({} unverified: cut by an unanswered \
             rotation, which may have happened); {}",
            chains.len(),
            chains.len() - newest.len(),
            rotations_checked.describe("newest refresh token of a family lost")
        ));
        let (revoked, expired_revoked) = by_expiry(revoked);
        let revocations_checked = verify(&revoked, |token| async move {
            cluster.token_active(token).await.map(|active| !active)
        })
        .await;
        lines.push(format!(
            "revocations: {} ({} expired, unverified), {}",
            revoked.len() + expired_revoked.len(),
            expired_revoked.len(),
            revocations_checked.describe("token active again")
        ));
        // Every gateway, restarted ones included, must still refuse every revoked token.
        let mut refused_at_the_end = Verdicts::default();
        for gateway in 0..cluster.gateways() {
            refused_at_the_end += verify(&revoked, |token| async move {
                match cluster.proxy(gateway, token).await? {
                    200 => Ok(false),
                    401 => Ok(true),
                    status => Err(format!("answered {status}")),
                }
            })
            .await;
        }
        lines.push(format!(
            "revoked tokens asked of every gateway at the end: {}",
            refused_at_the_end.describe("accepted")
        ));
        lines.push(format!(
            "revoked tokens accepted by a gateway after the bound: {}, within it: {within} \
             (the latest {latest} ms after the acknowledgement)",
            late.len()
        ));
        for acceptance in &late {
            lines.push(format!("  late: {acceptance}"));
        }
        let violations = users_checked.failed()
            + tokens_checked.failed()
            + rotations_checked.failed()
            + revocations_checked.failed()
            + refused_at_the_end.failed()
            + u64::try_from(late.len()).unwrap_or(u64::MAX);
        Findings { lines, violations }
    }
}

/// What the cluster said of the items checked.
#[derive(Debug, Clone, Copy, Default)]
struct Verdicts {
    /// Said gone (`Ok(false)`).
    gone: u64,
    /// Not answered for after five tries (an error, an unexpected status).
    unanswered: u64,
}

impl Verdicts {
    /// Both: neither is a write the check could confirm.
    fn failed(self) -> u64 {
        self.gone + self.unanswered
    }

    /// `lost: N`, and the unanswered ones when there are any.
    fn describe(self, lost: &str) -> String {
        if self.unanswered == 0 {
            format!("{lost}: {}", self.gone)
        } else {
            format!("{lost}: {}, unanswered: {}", self.gone, self.unanswered)
        }
    }
}

impl std::ops::AddAssign for Verdicts {
    fn add_assign(&mut self, other: Verdicts) {
        self.gone += other.gone;
        self.unanswered += other.unanswered;
    }
}

/// Asks `holds` of every item, 16 at a time, each up to five times while it errs.
async fn verify<'a, F, Fut>(items: &'a [String], holds: F) -> Verdicts
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    use futures_util::StreamExt;
    let holds = &holds;
    futures_util::stream::iter(items)
        .map(|item| async move {
            let mut answer = Err(String::new());
            for _ in 0..5 {
                answer = holds(item).await;
                if answer.is_ok() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            match answer {
                Ok(true) => Verdicts::default(),
                Ok(false) => Verdicts {
                    gone: 1,
                    unanswered: 0,
                },
                Err(error) => {
                    eprintln!("no answer for {}…: {error}", prefix(item));
                    Verdicts {
                        gone: 0,
                        unanswered: 1,
                    }
                }
            }
        })
        .buffer_unordered(16)
        .fold(Verdicts::default(), |mut all, one| async move {
            all += one;
            all
        })
        .await
}

/// Splits JWTs into those still valid for a while and those expired (or about to): an expired
/// token is inactive and refused whatever became of it, so it proves nothing.
fn by_expiry(tokens: Vec<String>) -> (Vec<String>, Vec<String>) {
    let now = unix_now();
    tokens
        .into_iter()
        .partition(|token| expiry(token).is_some_and(|exp| exp > now + 5))
}

/// The `exp` of a JWT, read without verification (only to tell which tokens can still be checked).
fn expiry(token: &str) -> Option<i64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&json).ok()?["exp"].as_i64()
}

/// The first characters of a token or name, enough to find it in logs.
fn prefix(value: &str) -> &str {
    value.get(..12).unwrap_or(value)
}
