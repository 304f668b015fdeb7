//! Running the auth server: the HTTP listener with graceful shutdown, and the background tasks
//! (key maintenance, housekeeping, email delivery) that the server owns and stops with it.

use crate::routes::router;
use crate::state::AppState;
use crate::tls_listener::TlsListener;
use axum::ServiceExt;
use axum::serve::ListenerExt;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How long a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the auth server listens.
pub struct Listeners {
    /// The public listener: OAuth and OpenID Connect endpoints and the sign-in pages.
    pub public: TcpListener,
    /// With it, the public listener speaks TLS (HTTP/2 and HTTP/1.1 by ALPN); the issuer should
    /// then be `https://`, which makes cookies `Secure`.
    pub tls: Option<TlsAcceptor>,
    /// The admin listener: the admin API, health and metrics; keep it off public networks. It
    /// speaks TLS with the same certificate when `tls` is set.
    pub admin: Option<TcpListener>,
}

/// Serves until `shutdown` resolves, then drains in-flight requests on both listeners and stops
/// the background tasks (key maintenance and housekeeping).
///
/// # Errors
/// I/O errors of the listeners.
pub async fn serve(
    listeners: Listeners,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let maintenance = tokio::spawn(maintain_keys_and_providers(state.clone(), stopped.clone()));
    let housekeeping = tokio::spawn(housekeeping(state.clone(), stopped.clone()));
    let email = tokio::spawn(deliver_email(state.clone(), stopped.clone()));
    let logout = tokio::spawn(deliver_logout_notices(state.clone(), stopped));
    let audit = state.audit.clone();
    let (shut, shutting) = watch::channel(false);
    let shut = std::sync::Arc::new(shut);
    let until_shutdown = move || {
        let mut shutting = shutting.clone();
        async move {
            let _ = shutting.wait_for(|requested| *requested).await;
        }
    };
    let requested = shut.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = requested.send(true);
    });
    let admin = match listeners.admin {
        Some(listener) => {
            let scheme = if listeners.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let base = format!("{scheme}://{}", listener.local_addr()?);
            if let Err(error) = crate::console::register(&state, base).await {
                tracing::error!(%error, "cannot register the admin console's client");
            }
            let app = crate::admin_api::router(state.clone())
                .into_make_service_with_connect_info::<SocketAddr>();
            // With TLS configured, the admin listener speaks it too, with the same certificate.
            let task = match listeners.tls.clone() {
                None => tokio::spawn(
                    axum::serve(listener, app)
                        .with_graceful_shutdown(until_shutdown())
                        .into_future(),
                ),
                Some(acceptor) => {
                    let listener =
                        TlsListener::new(listener, acceptor, TLS_HANDSHAKE_TIMEOUT)?.tap_io(|_| {});
                    tokio::spawn(
                        axum::serve(listener, app)
                            .with_graceful_shutdown(until_shutdown())
                            .into_future(),
                    )
                }
            };
            Some(task)
        }
        None => None,
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = match listeners.tls {
        None => {
            axum::serve(listeners.public, app)
                .with_graceful_shutdown(until_shutdown())
                .await
        }
        Some(acceptor) => {
            // `tap_io` gives the TLS listener's connections the peer address as `ConnectInfo`.
            let listener =
                TlsListener::new(listeners.public, acceptor, TLS_HANDSHAKE_TIMEOUT)?.tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(until_shutdown())
                .await
        }
    };
    // The public listener is done (asked to stop, or failed): the admin listener stops too.
    let _ = shut.send(true);
    let admin_result = match admin {
        Some(task) => task.await.unwrap_or_else(|error| {
            tracing::error!(%error, "admin listener task failed");
            Ok(())
        }),
        None => Ok(()),
    };
    // The receiver may already be gone if the task ended; nothing to stop then.
    let _ = stop.send(true);
    audit.flush().await;
    for (name, task) in [
        ("key maintenance", maintenance),
        ("housekeeping", housekeeping),
        ("email delivery", email),
        ("back-channel logout", logout),
    ] {
        if let Err(error) = task.await {
            tracing::error!(%error, task = name, "background task failed");
        }
    }
    result.and(admin_result)
}

/// Sends the email outbox while the server runs (when `[email]` is configured): the messages
/// due, every poll interval.
async fn deliver_email(state: AppState, mut stopped: watch::Receiver<bool>) {
    let Some(email) = state.email.clone() else {
        return;
    };
    let mut ticker = tokio::time::interval(email.poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        // Requests for reset links become links and emails first, so they leave in this round.
        if let Err(error) = crate::routes::password_reset::password_reset(&state)
            .settle_requests()
            .await
        {
            tracing::warn!(%error, "password reset requests unavailable; retrying");
        }
        let delivery = portcullis_service::OutboxDelivery {
            outbox: state.store.as_ref(),
            mailer: email.mailer.as_ref(),
            clock: state.clock.as_ref(),
            metrics: state.metrics.as_ref(),
        };
        if let Err(error) = delivery.deliver_due().await {
            tracing::warn!(%error, "email outbox unavailable; retrying");
        }
    }
}

/// How often due back-channel logout notices are looked for.
const LOGOUT_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Delivers back-channel logout notices while the server runs.
async fn deliver_logout_notices(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(LOGOUT_POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        let delivery = portcullis_service::LogoutDelivery {
            store: state.store.as_ref(),
            keys: state.keys.as_ref(),
            sender: &state.outbound,
            clock: state.clock.as_ref(),
            audit: &state.audit,
            issuer: state.settings.issuer(),
        };
        if let Err(error) = delivery.deliver_due().await {
            tracing::warn!(%error, "back-channel logout queue unavailable; retrying");
        }
    }
}

/// Periodically re-reads keys (to see rotations made elsewhere) and rotates keys that are due,
/// and re-reads the upstream providers (to see changes made through another server).
async fn maintain_keys_and_providers(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(state.settings.key_refresh_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published = state.keys.published_kids(state.clock.now());
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        if let Err(error) = state.reload_upstreams().await {
            tracing::warn!(%error, "provider reload failed; keeping the loaded providers");
        }
        if let Err(error) = state.keys.refresh().await {
            tracing::warn!(%error, "key refresh failed; keeping the loaded keys");
            continue;
        }
        if let Err(error) = state.keys.rotate_due(state.clock.now()).await {
            tracing::error!(%error, "automatic key rotation failed");
        }
        // Rotation here, by another server or by the CLI: tell the gateways to refetch now.
        let now_published = state.keys.published_kids(state.clock.now());
        if now_published != published {
            tracing::info!(kids = ?now_published, "published signing keys changed");
            state.announcer.keys_changed();
            published = now_published;
        }
    }
}

/// Periodically deletes expired sessions, codes, refresh token families and revocation entries,
/// so tables do not grow without bound.
async fn housekeeping(state: AppState, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(state.settings.sign_in.housekeeping_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped.changed() => return,
        }
        let now = state.clock.now();
        let idle = state.settings.sign_in.session.idle_timeout_secs;
        let results = [
            ("sessions", state.sessions.purge_sessions(now, idle).await),
            ("grants", state.store.purge_grants(now).await),
            ("revocations", state.store.purge_revocations(now).await),
            ("reset links", state.store.purge_reset_links(now).await),
            (
                "pushed authorization requests",
                state.store.purge_pushed_requests(now).await,
            ),
            (
                "device authorization requests",
                state.store.purge_device_grants(now).await,
            ),
            (
                // Unused for a day after their document's copy expired, with no refresh token.
                "clients known by a metadata document",
                state
                    .store
                    .purge_stale_document_clients(
                        now - portcullis_core::client_id_document::STALE_CLIENT_SECS,
                        now,
                    )
                    .await,
            ),
            (
                "clients of ended sessions",
                state
                    .store
                    .purge_session_clients(
                        now - state.settings.sign_in.session.absolute_timeout_secs,
                    )
                    .await,
            ),
            (
                "invitations and verification links",
                state.store.purge_registration_links(now).await,
            ),
            (
                "expired personal access tokens",
                state.store.purge_personal_access_tokens(now).await,
            ),
            (
                "audit events",
                state
                    .store
                    .purge_audit(now - state.settings.sign_in.audit_retention_secs)
                    .await,
            ),
        ];
        for (what, result) in results {
            match result {
                Ok(0) => {}
                Ok(count) => tracing::info!(what, count, "purged expired records"),
                Err(error) => tracing::warn!(what, %error, "housekeeping failed; will retry"),
            }
        }
    }
}
