//! Outgoing email over SMTP with `lettre`: the [`Mailer`] of the email outbox. STARTTLS (port
//! 587) or implicit TLS (465) with the platform's roots (plus a private CA if given), optional
//! authentication; plaintext only to a loopback relay. Each message is plain text and HTML
//! (`multipart/alternative`) with a `Message-ID` fixed by its outbox entry, so a retry after a
//! lost acknowledgement is recognisably the same message.

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_core::OutboxEntry;
use portcullis_service::{MailError, Mailer};
use std::time::Duration;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (no downgrade).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only to a relay on this machine's loopback interface.
    None,
}

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The server's host name (checked against its certificate).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Connection protection.
    pub security: SmtpSecurity,
    /// User name and password, if the server wants them.
    pub credentials: Option<(String, String)>,
    /// The sender, `Name <address>` or an address.
    pub from: String,
    /// A private CA's certificate (PEM) to trust besides the platform's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Per-command timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Why the SMTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// `from` is not an address.
    #[error("email.from is not an email address: {0}")]
    From(String),
    /// Plaintext to a host that is not loopback.
    #[error("email.security = \"none\" is allowed only for a relay on 127.0.0.1, ::1 or localhost")]
    Plaintext,
    /// The TLS settings (or the CA certificate) were refused.
    #[error("email TLS settings: {0}")]
    Tls(String),
}

/// Sends the outbox's messages to one SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of `Message-ID`s: the sender's.
    domain: String,
}

impl SmtpMailer {
    /// A client for `settings`; nothing is connected until the first message.
    ///
    /// # Errors
    /// [`SmtpError`] for a bad sender, plaintext off loopback, or refused TLS settings.
    pub fn new(settings: &SmtpSettings) -> Result<Self, SmtpError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|_| SmtpError::From(settings.from.clone()))?;
        let domain = from.email.domain().to_owned();
        let tls = || -> Result<TlsParameters, SmtpError> {
            let mut builder = TlsParameters::builder(settings.host.clone());
            if let Some(pem) = &settings.ca_pem {
                let certificate = Certificate::from_pem(pem)
                    .map_err(|error| SmtpError::Tls(error.to_string()))?;
                builder = builder.add_root_certificate(certificate);
            }
            builder
                .build()
                .map_err(|error| SmtpError::Tls(error.to_string()))
        };
        let tls = match settings.security {
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::None
                if portcullis_core::network_address::is_loopback_host(&settings.host) =>
            {
                Tls::None
            }
            SmtpSecurity::None => return Err(SmtpError::Plaintext),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
            domain,
        })
    }

    fn message(&self, entry: &OutboxEntry) -> Result<Message, MailError> {
        let to: Mailbox =
            entry.email.to.parse().map_err(|_| {
                MailError::Permanent("the recipient is not an email address".into())
            })?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(entry.email.subject.clone())
            .message_id(Some(format!(
                "<portcullis.{}.{}@{}>",
                entry.id, entry.created_at, self.domain
            )))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(entry.email.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(entry.email.html.clone()),
                    ),
            )
            .map_err(|error| MailError::Permanent(format!("cannot build the message: {error}")))
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, entry: &OutboxEntry) -> Result<(), MailError> {
        let message = self.message(entry)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // RFC 5321 §4.2.1: 5yz is a permanent negative completion, 4yz transient.
            Err(error) if error.is_permanent() => Err(MailError::Permanent(error.to_string())),
            Err(error) => Err(MailError::Temporary(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(host: &str, security: SmtpSecurity) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port: 2525,
            security,
            credentials: Some(("mailer".into(), "hunter2-secret".into())),
            from: "Portcullis <no-reply@auth.example>".into(),
            ca_pem: None,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn plaintext_only_to_loopback() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost"] {
            assert!(
                SmtpMailer::new(&settings(host, SmtpSecurity::None)).is_ok(),
                "{host}"
            );
        }
        for host in ["smtp.example.com", "10.0.0.5", "localhost.example.com"] {
            assert!(
                matches!(
                    SmtpMailer::new(&settings(host, SmtpSecurity::None)),
                    Err(SmtpError::Plaintext)
                ),
                "{host}"
            );
        }
        assert!(SmtpMailer::new(&settings("smtp.example.com", SmtpSecurity::StartTls)).is_ok());
    }

    #[test]
    fn a_bad_sender_is_refused_and_the_password_never_printed() {
        let mut bad = settings("127.0.0.1", SmtpSecurity::None);
        bad.from = "not an address".into();
        assert!(matches!(SmtpMailer::new(&bad), Err(SmtpError::From(_))));
        assert!(!format!("{bad:?}").contains("hunter2"));
    }
}
