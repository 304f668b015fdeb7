//! Outgoing email through the durable outbox and a real SMTP server on loopback (aiosmtpd):
//! messages arrive as plain text and HTML with a stable Message-ID; an SMTP outage loses nothing
//! (the message arrives once the server is back, and `/readyz` says the outbox is stuck
//! meanwhile); a restart after delivery sends nothing twice.

use portcullis_core::{Clock, OutgoingEmail, UnixSeconds};
use portcullis_service::Mailer;
use portcullis_smtp::{SmtpMailer, SmtpSecurity, SmtpSettings};
use portcullis_testkit::smtp::TestSmtp;
use portcullis_testkit::{ManualClock, TestAuthServer, TestOptions};
use std::sync::Arc;
use std::time::Duration;

pub(crate) fn mailer(smtp: &TestSmtp) -> Arc<dyn Mailer> {
    Arc::new(
        SmtpMailer::new(&SmtpSettings {
            host: "127.0.0.1".into(),
            port: smtp.address.port(),
            security: SmtpSecurity::None,
            credentials: None,
            from: "Portcullis <no-reply@auth.example>".into(),
            ca_pem: None,
            timeout: Duration::from_secs(5),
        })
        .expect("mailer"),
    )
}

/// The body of a quoted-printable message part, decoded (soft breaks and `=XX`).
pub(crate) fn decode_quoted_printable(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut bytes = Vec::new();
    let mut rest = joined.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'='
            && let Some(hex) = tail.get(..2).and_then(|hex| std::str::from_utf8(hex).ok())
            && let Ok(value) = u8::from_str_radix(hex, 16)
        {
            bytes.push(value);
            rest = &tail[2..];
            continue;
        }
        bytes.push(byte);
        rest = tail;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first link of a delivered message (its plain-text part comes first).
pub(crate) fn link_in(message: &str) -> String {
    let text = decode_quoted_printable(message);
    let start = text.find("http://").expect("a link");
    text[start..]
        .split(|character: char| character.is_whitespace() || character == '"')
        .next()
        .expect("link")
        .to_owned()
}

fn message(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.into(),
        subject: "Verify your email for Portcullis".into(),
        text: "Open https://auth.example/verify?token=plain-part".into(),
        html: "<p>Open <a href=\"https://auth.example/verify?token=html-part\">this link</a></p>"
            .into(),
    }
}

async fn admin_text(server: &TestAuthServer, path: &str) -> String {
    reqwest::get(format!("{}{path}", server.admin_url))
        .await
        .expect("admin listener")
        .text()
        .await
        .expect("text")
}

async fn pending(server: &TestAuthServer) -> u64 {
    let status = server.state.store.outbox_status().await;
    status.expect("outbox status").pending
}

async fn enqueue(server: &TestAuthServer, to: &str, now: UnixSeconds) -> i64 {
    server
        .state
        .store
        .enqueue_email(&message(to), now)
        .await
        .expect("queued")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_mail_arrives_as_text_and_html_with_a_stable_message_id() {
    let Some(smtp) = TestSmtp::start().await else {
        return;
    };
    let server = TestAuthServer::start_with(TestOptions {
        mailer: Some(mailer(&smtp)),
        ..TestOptions::default()
    })
    .await;
    let id = enqueue(&server, "alice@example.com", server.now()).await;
    let delivered = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(delivered.len(), 1, "delivered once");
    let raw = &delivered[0];
    for expected in [
        "Subject: Verify your email for Portcullis",
        "To: alice@example.com",
        "From: Portcullis <no-reply@auth.example>",
        &format!("Message-ID: <portcullis.{id}."),
        "multipart/alternative",
        "text/plain",
        "text/html",
        "plain-part",
        "html-part",
    ] {
        assert!(raw.contains(expected), "{expected} in {raw}");
    }
    // The round is counted once it ends, just after the SMTP server took the message.
    let mut metrics = admin_text(&server, "/metrics").await;
    for _ in 0..50 {
        if metrics.contains("portcullis_emails_sent_total 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = admin_text(&server, "/metrics").await;
    }
    assert!(
        metrics.contains("portcullis_emails_sent_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("portcullis_email_outbox_pending 0"),
        "{metrics}"
    );
    assert_eq!(admin_text(&server, "/readyz").await, "ready");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_outage_loses_nothing_and_a_restart_sends_nothing_twice() {
    let Some(mut smtp) = TestSmtp::stopped().await else {
        return;
    };
    let clock = ManualClock::new();
    let sender = mailer(&smtp);
    let options = || TestOptions {
        mailer: Some(sender.clone()),
        clock: clock.clone(),
        ..TestOptions::default()
    };
    let server = TestAuthServer::start_with(options()).await;
    enqueue(&server, "bob@example.com", clock.now()).await;

    // The SMTP server is down: the attempt fails, the message stays.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = admin_text(&server, "/metrics").await;
        if metrics.contains("portcullis_email_attempts_postponed_total 1") {
            assert!(
                metrics.contains("portcullis_email_outbox_pending 1"),
                "{metrics}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending(&server).await, 1);
    clock.advance(120);
    let ready = admin_text(&server, "/readyz").await;
    assert!(
        ready.starts_with("ready; email outbox stuck: 1 message(s) waiting"),
        "still ready, with the detail: {ready}"
    );

    // Back up: the next retry (the clock moved past any back-off) delivers it, once.
    smtp.resume().await;
    clock.advance(3_600);
    let delivered = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].contains("To: bob@example.com"));
    // The message leaves the outbox once the server has acknowledged it, a moment after the
    // mailbox holds it.
    let started = std::time::Instant::now();
    loop {
        let ready = admin_text(&server, "/readyz").await;
        if ready == "ready" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the outbox should empty once delivered: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A restart finds nothing left to send.
    let dir = server.stop().await.expect("owned directory");
    let restarted = TestAuthServer::start_in_dir(dir.path(), options()).await;
    clock.advance(3_600);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.messages().len(), 1, "nothing sent twice");
    assert_eq!(pending(&restarted).await, 0);
    restarted.stop().await;
}
