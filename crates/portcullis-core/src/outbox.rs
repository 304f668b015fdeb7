//! Outgoing email as a durable outbox: a message is stored before anyone is told it will be
//! sent, and leaves the outbox only once an SMTP server has accepted it. Delivery is retried with
//! exponential back-off; each message keeps one `Message-ID` across attempts so a receiver can
//! drop the duplicate of a delivery whose acknowledgement was lost.

use crate::UnixSeconds;

/// A message to send, in plain text and HTML. Its `Debug` leaves the bodies out: they may carry
/// a single-use link.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// The HTML body.
    pub html: String,
}

impl std::fmt::Debug for OutgoingEmail {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OutgoingEmail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// What a message says: paragraphs, an optional link to act on, and more paragraphs.
#[derive(Debug, Clone, Copy)]
pub struct MessageText<'a> {
    /// The product's name, signing the message.
    pub product: &'a str,
    /// Paragraphs before the link.
    pub before: &'a [&'a str],
    /// The link to follow, with the words of its HTML anchor.
    pub action: Option<(&'a str, &'a str)>,
    /// Paragraphs after the link.
    pub after: &'a [&'a str],
}

impl OutgoingEmail {
    /// A message to `to` in plain text and in HTML (every piece escaped there), signed with the
    /// product's name: the one shape of every message Portcullis sends.
    pub fn compose(to: &str, subject: String, text: &MessageText<'_>) -> OutgoingEmail {
        use crate::html::escape;
        let mut plain = String::new();
        let mut html = String::new();
        for paragraph in text.before {
            plain.push_str(&format!("{paragraph}\n\n"));
            html.push_str(&format!("<p>{}</p>", escape(paragraph)));
        }
        if let Some((label, link)) = text.action {
            plain.push_str(&format!("{link}\n\n"));
            html.push_str(&format!(
                "<p><a href=\"{}\">{}</a></p>",
                escape(link),
                escape(label)
            ));
        }
        for paragraph in text.after {
            plain.push_str(&format!("{paragraph}\n\n"));
            html.push_str(&format!("<p>{}</p>", escape(paragraph)));
        }
        plain.push_str(&format!("-- {}\n", text.product));
        html.push_str(&format!("<p>&mdash; {}</p>", escape(text.product)));
        OutgoingEmail {
            to: to.to_owned(),
            subject,
            text: plain,
            html,
        }
    }
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its position in the outbox (also in its `Message-ID`).
    pub id: i64,
    /// The message.
    pub email: OutgoingEmail,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: UnixSeconds,
}

/// What the outbox holds now, for metrics and readiness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStatus {
    /// Messages not yet accepted by an SMTP server.
    pub pending: u64,
    /// When the oldest of them was queued.
    pub oldest_created_at: Option<UnixSeconds>,
}

/// The first retry waits this long.
const FIRST_RETRY_SECS: i64 = 5;
/// No retry waits longer.
const MAX_RETRY_SECS: i64 = 15 * 60;

/// How long to wait after the `attempts`-th failed attempt: 5 s, 10 s, 20 s, ... doubling up to 15
/// minutes, so an SMTP outage is not hammered and a message still leaves soon after it ends.
pub fn retry_delay_secs(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(20);
    FIRST_RETRY_SECS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_SECS)
}

impl OutboxStatus {
    /// Whether the oldest pending message has waited longer than `stuck_after_secs` at `now`.
    pub fn is_stuck(&self, now: UnixSeconds, stuck_after_secs: i64) -> bool {
        self.oldest_created_at
            .is_some_and(|created_at| now - created_at > stuck_after_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let delays: Vec<i64> = (1..=10).map(retry_delay_secs).collect();
        assert_eq!(delays[..5], [5, 10, 20, 40, 80]);
        assert_eq!(delays[9], MAX_RETRY_SECS);
        assert_eq!(retry_delay_secs(u32::MAX), MAX_RETRY_SECS, "no overflow");
    }

    #[test]
    fn a_stuck_outbox_is_one_whose_oldest_message_waited_too_long() {
        let empty = OutboxStatus::default();
        assert!(!empty.is_stuck(1_000, 60));
        let waiting = OutboxStatus {
            pending: 2,
            oldest_created_at: Some(900),
        };
        assert!(!waiting.is_stuck(950, 60));
        assert!(waiting.is_stuck(961, 60));
    }
}
