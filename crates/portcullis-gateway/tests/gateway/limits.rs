//! Connection-level defences: slow headers are cut off, and connections beyond the cap are closed.

use super::support::stack;
use portcullis_testkit::TestOptions;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes; returns what arrived, or `None` if still open after `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(received),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.header_read_timeout_ms = 300
    })
    .await;
    let address = stack.gateway.as_ref().expect("gateway").address;
    let mut slow = TcpStream::connect(address).await.expect("connect");
    slow.write_all(b"GET /api/x HTTP/1.1\r\nHost: gateway\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let closed = read_until_closed(&mut slow, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "the connection must be closed");
    assert!(started.elapsed() < Duration::from_secs(2));
    let answered = String::from_utf8_lossy(closed.as_deref().unwrap_or_default()).to_string();
    assert!(
        answered.is_empty() || answered.starts_with("HTTP/1.1 408"),
        "{answered}"
    );
    assert_eq!(
        stack.get("/api/x", None).await.status(),
        401,
        "others are still served"
    );
    stack.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let stack = stack(TestOptions::default(), |config, _| {
        config.max_connections = 2
    })
    .await;
    let address = stack.gateway.as_ref().expect("gateway").address;
    let first = TcpStream::connect(address).await.expect("connect");
    let _second = TcpStream::connect(address).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(address).await.expect("connect");
    let _ = third
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut third, Duration::from_secs(2)).await;
    assert_eq!(
        answer.as_deref(),
        Some(&b""[..]),
        "closed without an answer"
    );
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(address).await.expect("connect");
    fourth
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut fourth, Duration::from_secs(2))
        .await
        .expect("answered and closed");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401"),
        "a freed slot is usable again"
    );
    stack.stop().await;
}

#[tokio::test]
async fn protocol_upgrades_are_passed_through() {
    let stack = stack(TestOptions::default(), |config, upstream| {
        let mut socket = super::support::route("socket", "/socket", upstream);
        socket.auth = "public".into();
        config.routes.push(socket);
    })
    .await;
    let address = stack.gateway.as_ref().expect("gateway").address;
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /socket HTTP/1.1\r\nHost: gateway\r\nConnection: Upgrade\r\nUpgrade: echo-protocol\r\n\r\n")
        .await
        .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut byte))
            .await
            .expect("in time")
            .expect("read");
        assert_eq!(
            read,
            1,
            "connection closed early: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo-protocol"), "{head}");
    stream
        .write_all(b"ping through the gateway")
        .await
        .expect("write");
    let mut echoed = vec![0u8; 24];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut echoed))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&echoed, b"ping through the gateway");
    stack.stop().await;
}
