//! Refreshing a session's access token before it expires: once per session at a time, in this
//! process by a lock per session and in a cluster by the store's lock, and in a task of its own,
//! so a browser that goes away mid-refresh never leaves the session holding a refresh token the
//! provider has already rotated (which its reuse detection would take for theft, RFC 9700
//! §4.14.2, ending the grant).

use super::sealed::SessionTokens;
use super::{Sessions, access_expires_at, digest, unavailable};
use crate::error::GatewayError;
use portcullis_sdk::client::ClientError;
use portcullis_service::ports::SessionRecord;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

/// How long a request waits for another gateway's refresh of its session.
const CLUSTER_WAIT: Duration = Duration::from_secs(5);

/// One lock per key, held only while someone uses it.
#[derive(Debug, Default)]
pub(super) struct KeyedLocks(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl KeyedLocks {
    /// `work`, once no other work of `key` runs.
    async fn run<T>(&self, key: &str, work: impl Future<Output = T>) -> T {
        let lock = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone();
        let result = {
            let _turn = lock.lock().await;
            work.await
        };
        let mut locks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // The map's and ours: nobody else waits for it.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(key);
        }
        result
    }
}

impl Sessions {
    /// Whether `session`'s access token is due for a refresh at `now`.
    fn due(&self, session: &SessionRecord, now: i64) -> bool {
        session.access_expires_at.saturating_sub(now) <= self.refresh_before_expiry_secs
    }

    /// The access token of `session` (of `cookie`), refreshed first when due; `None` when the
    /// session is over.
    pub(super) async fn fresh_access_token(
        self: &Arc<Self>,
        cookie: &str,
        session: SessionRecord,
        now: i64,
    ) -> Result<Option<String>, GatewayError> {
        if !self.due(&session, now) {
            return Ok(Some(SessionTokens::open(cookie, &session)?.access_token));
        }
        let sessions = self.clone();
        let cookie = cookie.to_owned();
        tokio::spawn(async move {
            let key = digest(&cookie);
            sessions
                .refreshing
                .run(&key, sessions.refresh_in_cluster(&key, &cookie, now))
                .await
        })
        .await
        .map_err(|error| {
            tracing::warn!(%error, "a session refresh task failed");
            GatewayError::SessionsUnavailable
        })?
    }

    /// The refresh with the cluster's right to it, waited for; without it (another gateway
    /// held it too long), the current token while it lasts.
    async fn refresh_in_cluster(
        &self,
        key: &str,
        cookie: &str,
        now: i64,
    ) -> Result<Option<String>, GatewayError> {
        let started = tokio::time::Instant::now();
        let proof = loop {
            if let Some(proof) = self.store.lock_refresh(key).await.map_err(unavailable)? {
                break Some(proof);
            }
            if started.elapsed() >= CLUSTER_WAIT {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        let refreshed = self.refresh(key, cookie, now, proof.is_some()).await;
        if let Some(proof) = proof {
            self.store.unlock_refresh(key, &proof).await;
        }
        refreshed
    }

    /// The refresh itself, once this request's turn has come (`locked`: with the cluster's
    /// right to it).
    async fn refresh(
        &self,
        key: &str,
        cookie: &str,
        now: i64,
        locked: bool,
    ) -> Result<Option<String>, GatewayError> {
        // Another request, or gateway, may have refreshed meanwhile.
        let Some(current) = self.store.touch(key, now).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let tokens = SessionTokens::open(cookie, &current)?;
        if !self.due(&current, now) {
            return Ok(Some(tokens.access_token));
        }
        let still_valid = current.access_expires_at > now;
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            if still_valid {
                return Ok(Some(tokens.access_token));
            }
            // Nothing left to forward: the session is over.
            self.end(key).await?;
            return Ok(None);
        };
        if !locked {
            // Another gateway refreshes it: the current token while it lasts.
            return if still_valid {
                Ok(Some(tokens.access_token))
            } else {
                Err(GatewayError::SessionsUnavailable)
            };
        }
        let party = self.party().await?;
        match party.refresh(&refresh_token, &current.subject).await {
            Ok((fresh, claims)) => {
                let kept = SessionTokens {
                    access_token: fresh.access_token,
                    refresh_token: fresh.refresh_token.or(tokens.refresh_token),
                    id_token: fresh.id_token.or(tokens.id_token),
                };
                let refreshed = SessionRecord {
                    access_expires_at: access_expires_at(now, fresh.expires_in),
                    sealed_tokens: kept.seal(cookie)?,
                    provider_session: claims
                        .as_ref()
                        .and_then(|claims| claims.session_id().map(str::to_owned))
                        .or(current.provider_session),
                    ..current
                };
                self.store
                    .update(key, refreshed)
                    .await
                    .map_err(unavailable)?;
                self.metrics.session_event("refreshed");
                Ok(Some(kept.access_token))
            }
            // The grant is over (revoked, expired, the user gone; RFC 6749 §5.2), or the new
            // id token names someone else: so is the session.
            Err(ClientError::Refused { code, .. }) if code == "invalid_grant" => {
                self.metrics.session_event("refresh_refused");
                self.end(key).await?;
                Ok(None)
            }
            Err(error @ ClientError::InvalidIdToken(_)) => {
                tracing::warn!(%error, "a refresh returned an unusable id token; the session ends");
                self.metrics.session_event("refresh_refused");
                self.end(key).await?;
                Ok(None)
            }
            // The provider fails (down, misconfigured, refusing this client for now): the
            // token serves while it lasts.
            Err(error) if still_valid => {
                tracing::warn!(%error, "session refresh failed; the access token serves while it lasts");
                self.metrics.session_event("refresh_failed");
                Ok(Some(tokens.access_token))
            }
            Err(error) => {
                tracing::warn!(%error, "session refresh failed");
                self.metrics.session_event("refresh_failed");
                Err(GatewayError::SessionsUnavailable)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_of_one_key_runs_one_at_a_time_and_leaves_no_lock() {
        let locks = Arc::new(KeyedLocks::default());
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (locks, running, most) = (locks.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    locks
                        .run("k", async {
                            let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                            most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        })
                        .await;
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(
            locks.0.lock().expect("map").is_empty(),
            "no lock left behind"
        );
    }
}
