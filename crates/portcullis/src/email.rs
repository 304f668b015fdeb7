//! Outgoing email: the auth server's outbox sent through the SMTP server of `[email]`.

use crate::config::Config;
use anyhow::Context;
use portcullis_auth::{AppState, EmailDelivery};
use portcullis_smtp::SmtpMailer;
use std::sync::Arc;
use std::time::Duration;

/// How often each auth server looks for due messages.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The auth server `state`, sending its email outbox when `[email]` names an SMTP server.
///
/// # Errors
/// Invalid email settings (the sender, plaintext off loopback, TLS or the CA file).
pub fn attach(state: AppState, config: &Config) -> anyhow::Result<AppState> {
    let Some(settings) = config.smtp_settings()? else {
        tracing::info!("email is off: no [email] smtp_host");
        return Ok(state);
    };
    tracing::info!(host = %settings.host, port = settings.port, "email through SMTP");
    let mailer = SmtpMailer::new(&settings).context("[email]")?;
    Ok(state.with_email(EmailDelivery {
        mailer: Arc::new(mailer),
        stuck_after_secs: config.email.stuck_after_secs,
        poll_interval: POLL_INTERVAL,
    }))
}
