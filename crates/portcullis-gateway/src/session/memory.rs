//! Sessions in this process's memory: one gateway.

use async_trait::async_trait;
use portcullis_service::StoreError;
use portcullis_service::ports::{
    CreateError, GatewaySessionStore, PendingLogin, SessionRecord, StoreLimits,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Sessions and pending sign-ins of one gateway.
#[derive(Debug)]
pub struct MemorySessionStore {
    limits: StoreLimits,
    sessions: Mutex<HashMap<String, SessionRecord>>,
    pending: Mutex<Pending>,
}

/// Pending sign-ins, and their keys in the order they began (some since taken).
#[derive(Debug, Default)]
struct Pending {
    entries: HashMap<String, PendingLogin>,
    order: VecDeque<String>,
}

impl MemorySessionStore {
    /// An empty store within `limits`.
    pub fn new(limits: StoreLimits) -> Self {
        MemorySessionStore {
            limits,
            sessions: Mutex::default(),
            pending: Mutex::default(),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, SessionRecord>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The key of the entry of `entries` that began first (`began_at`).
fn oldest<'a, T>(
    entries: impl Iterator<Item = (&'a String, &'a T)>,
    began_at: impl Fn(&T) -> i64,
) -> Option<String>
where
    T: 'a,
{
    entries
        .min_by_key(|(_, entry)| began_at(entry))
        .map(|(key, _)| key.clone())
}

#[async_trait]
impl GatewaySessionStore for MemorySessionStore {
    async fn begin(&self, key: String, pending: PendingLogin) -> Result<(), StoreError> {
        let mut waiting = self.pending();
        // A flood of sign-ins only spoils the oldest ones, never memory: each one begun forgets
        // at most a few, in the order they began.
        while waiting.entries.len() >= self.limits.max_pending.max(1) {
            let Some(oldest) = waiting.order.pop_front() else {
                break;
            };
            waiting.entries.remove(&oldest);
        }
        if waiting.order.len() > 2 * self.limits.max_pending {
            let Pending { entries, order } = &mut *waiting;
            order.retain(|key| entries.contains_key(key));
        }
        waiting.order.push_back(key.clone());
        waiting.entries.insert(key, pending);
        Ok(())
    }

    async fn take_pending(&self, key: &str, now: i64) -> Result<Option<PendingLogin>, StoreError> {
        Ok(self
            .pending()
            .entries
            .remove(key)
            .filter(|pending| self.limits.is_waiting(pending, now)))
    }

    async fn create(&self, key: String, session: SessionRecord) -> Result<(), CreateError> {
        let now = session.created_at;
        let mut sessions = self.sessions();
        if sessions.len() >= self.limits.max_sessions {
            sessions.retain(|_, entry| self.limits.is_live(entry, now));
            if sessions.len() >= self.limits.max_sessions {
                return Err(CreateError::Full);
            }
        }
        loop {
            let theirs = sessions
                .iter()
                .filter(|(_, entry)| entry.subject == session.subject);
            if theirs.clone().count() < self.limits.sessions_per_user.max(1) {
                break;
            }
            match oldest(theirs, |entry| entry.created_at) {
                Some(key) => sessions.remove(&key),
                None => break,
            };
        }
        sessions.insert(key, session);
        Ok(())
    }

    async fn touch(&self, key: &str, now: i64) -> Result<Option<SessionRecord>, StoreError> {
        let mut sessions = self.sessions();
        let Some(session) = sessions.get_mut(key) else {
            return Ok(None);
        };
        if !self.limits.is_live(session, now) {
            sessions.remove(key);
            return Ok(None);
        }
        session.last_seen = now;
        Ok(Some(session.clone()))
    }

    async fn update(&self, key: &str, session: SessionRecord) -> Result<(), StoreError> {
        if let Some(held) = self.sessions().get_mut(key) {
            *held = session;
        }
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions().remove(key))
    }

    async fn end_matching(
        &self,
        subject: Option<&str>,
        provider_session: Option<&str>,
    ) -> Result<usize, StoreError> {
        if subject.is_none() && provider_session.is_none() {
            return Ok(0);
        }
        let mut sessions = self.sessions();
        let before = sessions.len();
        sessions.retain(|_, session| {
            let named = subject.is_none_or(|subject| session.subject == subject)
                && provider_session
                    .is_none_or(|sid| session.provider_session.as_deref() == Some(sid));
            !named
        });
        Ok(before - sessions.len())
    }

    async fn lock_refresh(&self, _key: &str) -> Result<Option<String>, StoreError> {
        // One process: the caller's own lock serializes refreshes.
        Ok(Some(String::new()))
    }

    async fn unlock_refresh(&self, _key: &str, _proof: &str) {}

    async fn purge(&self, now: i64) {
        self.sessions()
            .retain(|_, session| self.limits.is_live(session, now));
        let mut waiting = self.pending();
        let Pending { entries, order } = &mut *waiting;
        entries.retain(|_, pending| self.limits.is_waiting(pending, now));
        order.retain(|key| entries.contains_key(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_store::conformance::gateway_session_cases as cases;

    #[tokio::test]
    async fn sessions_end_when_idle_old_replaced_or_named() {
        cases::sessions_end_when_idle_old_replaced_or_named(&MemorySessionStore::new(
            cases::LIMITS,
        ))
        .await;
    }

    #[tokio::test]
    async fn sign_ins_are_used_once_expire_and_never_pile_up() {
        cases::sign_ins_are_used_once_expire_and_never_pile_up(&MemorySessionStore::new(
            cases::LIMITS,
        ))
        .await;
    }
}
