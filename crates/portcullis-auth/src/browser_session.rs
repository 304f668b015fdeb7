//! The browser's sign-in session: found by the hash of its cookie secret, checked against the idle
//! and absolute timeouts, and created anew at every sign-in (no session fixation).

use crate::cookies::{SESSION_COOKIE, read_cookie, session_cookie};
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue};
use portcullis_core::session::SESSION_SECRET_BYTES;
use portcullis_core::{AuthMethods, Session, User, generate_secret};
use portcullis_jose::sha256;
use portcullis_service::StoreError;

/// The live session of this request, if any; refreshes its last-seen time.
///
/// # Errors
/// Store failures.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
    let Some(secret) = read_cookie(headers, SESSION_COOKIE, state.settings.secure_cookies()) else {
        return Ok(None);
    };
    let hash = sha256(secret.as_bytes());
    let Some(session) = state.sessions.find_session(&hash).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    let policy = &state.settings.sign_in.session;
    if !policy.is_live(&session, now) {
        return Ok(None);
    }
    if policy.needs_touch(&session, now) {
        state.sessions.touch_session(&hash, now).await?;
    }
    Ok(Some(session))
}

/// Starts a new session for `user`, who authenticated by `amr` (through the upstream
/// `identity_provider`, if any), ending the request's previous
/// session if it had one, and returns it with the `Set-Cookie` header. When the previous session
/// was another user's, that user is signed out there: the session's tokens are revoked and its
/// clients told (Back-Channel Logout). The same user signing in again (a fresh or stronger
/// sign-in asked for by `prompt=login`, `max_age` or `acr_values`) keeps the session id, so the
/// tokens already issued stay tied to the session and end with it, under a new cookie secret.
///
/// # Errors
/// Store failures.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    user: &User,
    amr: AuthMethods,
    identity_provider: Option<String>,
) -> Result<(Session, HeaderValue), StoreError> {
    let unavailable = |_| StoreError::Unavailable("random generator".into());
    let mut sid = None;
    if let Some(previous) = current(state, headers).await? {
        if previous.user_id == user.id {
            state.sessions.delete_session(&previous.sid).await?;
            sid = Some(previous.sid);
        } else {
            state
                .revoker()
                .revoke_session(&previous.sid, state.clock.now())
                .await?;
        }
    }
    let secret = generate_secret(SESSION_SECRET_BYTES).map_err(unavailable)?;
    let now = state.clock.now();
    let policy = &state.settings.sign_in.session;
    let session = Session {
        secret_hash: sha256(secret.as_bytes()).to_vec(),
        sid: match sid {
            Some(sid) => sid,
            None => generate_secret(16).map_err(unavailable)?,
        },
        user_id: user.id.clone(),
        auth_time: now,
        amr,
        identity_provider,
        created_at: now,
        last_seen_at: now,
        expires_at: now + policy.absolute_timeout_secs,
    };
    state.sessions.create_session(&session).await?;
    let cookie = session_cookie(
        secret,
        policy.absolute_timeout_secs,
        state.settings.secure_cookies(),
    );
    Ok((session, cookie))
}
