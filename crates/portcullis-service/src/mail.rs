//! Delivering the email outbox: due messages are claimed (so two servers never send the same one
//! at once), handed to the [`Mailer`], and removed once an SMTP server accepted them; a
//! temporary failure postpones a message with back-off, a permanent one (a 5xx refusal, an
//! address no server will take) drops it with a warning. A crash between acceptance and removal
//! sends that message again after its lease ends: delivery is at least once, with one
//! `Message-ID` per message so receivers can drop the duplicate.

use crate::{OutboxStore, StoreError};
use async_trait::async_trait;
use portcullis_core::outbox::retry_delay_secs;
use portcullis_core::{Clock, OutboxEntry, OutboxStatus, UnixSeconds};

/// How long a claimed message is held for its sender (longer than any SMTP timeout).
pub const DELIVERY_LEASE_SECS: i64 = 120;
/// Messages claimed per round.
const BATCH: u32 = 20;

/// Sends one message; the SMTP adapter (`portcullis-smtp`) implements it.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Hands `entry` to the mail server.
    ///
    /// # Errors
    /// [`MailError`], temporary or permanent.
    async fn send(&self, entry: &OutboxEntry) -> Result<(), MailError>;
}

/// Why a message was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Try again later: the server is unreachable, timed out, or answered 4xx.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Never deliverable as it is: a 5xx refusal, or a message that cannot be built.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// What one round of delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Accepted by the server and removed.
    pub sent: u32,
    /// Failed for now; tried again later.
    pub postponed: u32,
    /// Refused for good; removed.
    pub dropped: u32,
}

/// Where delivery is counted (the auth server's Prometheus metrics).
pub trait DeliveryMetrics: Send + Sync {
    /// After a round: what it did and what is left waiting at `now`.
    fn delivery_round(&self, report: &DeliveryReport, status: &OutboxStatus, now: UnixSeconds);
}

/// Everything delivery needs, borrowed for one round.
pub struct OutboxDelivery<'a> {
    /// The outbox.
    pub outbox: &'a dyn OutboxStore,
    /// The mail server.
    pub mailer: &'a dyn Mailer,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// Counts what happened.
    pub metrics: &'a dyn DeliveryMetrics,
}

impl OutboxDelivery<'_> {
    /// Sends every message due now, in rounds of a few, until none is due.
    ///
    /// # Errors
    /// Store failures (messages already claimed are tried again once their lease ends).
    pub async fn deliver_due(&self) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        loop {
            let now = self.clock.now();
            let due = self
                .outbox
                .claim_due_emails(now, DELIVERY_LEASE_SECS, BATCH)
                .await?;
            let claimed = due.len();
            for entry in due {
                self.deliver(&entry, &mut report).await?;
            }
            if claimed < BATCH as usize {
                break;
            }
        }
        let status = self.outbox.outbox_status().await?;
        self.metrics
            .delivery_round(&report, &status, self.clock.now());
        Ok(report)
    }

    async fn deliver(
        &self,
        entry: &OutboxEntry,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        match self.mailer.send(entry).await {
            Ok(()) => {
                self.outbox.remove_email(entry.id).await?;
                report.sent += 1;
            }
            Err(MailError::Temporary(reason)) => {
                let attempts = entry.attempts.saturating_add(1);
                let retry_at = self.clock.now() + retry_delay_secs(attempts);
                tracing::warn!(id = entry.id, attempts, %reason, "email not sent; retrying later");
                self.outbox
                    .postpone_email(entry.id, retry_at, &reason)
                    .await?;
                report.postponed += 1;
            }
            Err(MailError::Permanent(reason)) => {
                tracing::warn!(id = entry.id, %reason, "email refused for good; dropped");
                self.outbox.remove_email(entry.id).await?;
                report.dropped += 1;
            }
        }
        Ok(())
    }
}
