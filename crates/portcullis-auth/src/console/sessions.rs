//! The console's own sign-in state, in this server's memory: pending sign-ins (`state` → PKCE
//! verifier, single use, short-lived) and console sessions (cookie secret hash → who and what
//! they may do). Both maps are bounded; a restart signs console users out, nothing else.

use crate::admin_api::access::Capability;
use portcullis_core::{UnixSeconds, generate_secret};
use portcullis_jose::sha256;
use portcullis_service::Actor;
use std::collections::HashMap;
use std::sync::Mutex;

/// A pending sign-in lives this long.
const PENDING_SECS: i64 = 600;
/// A console session ends after this long without a request...
const IDLE_SECS: i64 = 30 * 60;
/// ...and this long after sign-in in any case.
const ABSOLUTE_SECS: i64 = 8 * 60 * 60;
/// At most this many of each at once (the oldest is dropped).
const CAPACITY: usize = 1024;

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Who, for the audit log.
    pub actor: Actor,
    /// The username shown in the page header.
    pub username: String,
    /// The user's id, to check on every request that they may still get in.
    pub user_id: String,
    /// The auth server session the console sign-in happened in (revoking it ends this too).
    pub sid: String,
    /// Read only (auditor) or read and write (admin).
    pub capability: Capability,
    /// The token every form of this session carries.
    pub csrf: String,
    created_at: UnixSeconds,
    last_seen_at: UnixSeconds,
}

/// Who a new console session is for.
pub struct NewConsoleSession {
    /// Who, for the audit log.
    pub actor: Actor,
    /// The username.
    pub username: String,
    /// The user's id.
    pub user_id: String,
    /// The auth server session of the sign-in.
    pub sid: String,
    /// What they may do.
    pub capability: Capability,
}

struct Pending {
    verifier: String,
    created_at: UnixSeconds,
}

/// The console's sign-ins and sessions.
#[derive(Default)]
pub struct ConsoleSessions {
    pending: Mutex<HashMap<String, Pending>>,
    sessions: Mutex<HashMap<[u8; 32], ConsoleSession>>,
}

impl std::fmt::Debug for ConsoleSessions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("ConsoleSessions")
    }
}

fn bounded<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    created: impl Fn(&V) -> UnixSeconds,
) {
    if map.len() >= CAPACITY
        && let Some(oldest) = map
            .iter()
            .min_by_key(|(_, value)| created(value))
            .map(|(key, _)| key.clone())
    {
        map.remove(&oldest);
    }
}

impl ConsoleSessions {
    /// Remembers a sign-in in progress; returns its `state` and PKCE verifier.
    pub fn begin(&self, now: UnixSeconds) -> Option<(String, String)> {
        let state = generate_secret(24).ok()?;
        let verifier = generate_secret(32).ok()?;
        let mut pending = self.pending.lock().ok()?;
        pending.retain(|_, entry| now - entry.created_at < PENDING_SECS);
        bounded(&mut pending, |entry| entry.created_at);
        pending.insert(
            state.clone(),
            Pending {
                verifier: verifier.clone(),
                created_at: now,
            },
        );
        Some((state, verifier))
    }

    /// The verifier of a pending sign-in, consumed: a `state` works once.
    pub fn finish(&self, state: &str, now: UnixSeconds) -> Option<String> {
        let entry = self.pending.lock().ok()?.remove(state)?;
        (now - entry.created_at < PENDING_SECS).then_some(entry.verifier)
    }

    /// Starts a session; returns the cookie secret.
    pub fn start(&self, session: NewConsoleSession, now: UnixSeconds) -> Option<String> {
        let secret = generate_secret(32).ok()?;
        let session = ConsoleSession {
            actor: session.actor,
            username: session.username,
            user_id: session.user_id,
            sid: session.sid,
            capability: session.capability,
            csrf: generate_secret(24).ok()?,
            created_at: now,
            last_seen_at: now,
        };
        let mut sessions = self.sessions.lock().ok()?;
        sessions.retain(|_, session| live(session, now));
        bounded(&mut sessions, |session| session.created_at);
        sessions.insert(sha256(secret.as_bytes()), session);
        Some(secret)
    }

    /// The live session of a cookie secret, its activity recorded.
    pub fn find(&self, secret: &str, now: UnixSeconds) -> Option<ConsoleSession> {
        let mut sessions = self.sessions.lock().ok()?;
        let key = sha256(secret.as_bytes());
        let session = sessions.get_mut(&key)?;
        if !live(session, now) {
            sessions.remove(&key);
            return None;
        }
        session.last_seen_at = now;
        Some(session.clone())
    }

    /// Lowers (or keeps) what a session may do, after the user's roles changed.
    pub fn restrict(&self, secret: &str, capability: Capability) {
        if let Ok(mut sessions) = self.sessions.lock()
            && let Some(session) = sessions.get_mut(&sha256(secret.as_bytes()))
        {
            session.capability = capability;
        }
    }

    /// Ends a session.
    pub fn end(&self, secret: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&sha256(secret.as_bytes()));
        }
    }
}

fn live(session: &ConsoleSession, now: UnixSeconds) -> bool {
    now - session.last_seen_at < IDLE_SECS && now - session.created_at < ABSOLUTE_SECS
}
