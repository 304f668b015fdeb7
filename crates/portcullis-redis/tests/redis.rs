//! Against the real Redis of `PORTCULLIS_TEST_REDIS_URL` (skipped without it, failing under
//! `CI=true`); each test under its own key prefix.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{ClusterAnnouncer, RevocationEntry, RevocationKind};
use portcullis_redis::{
    ClusterEvent, EventHandler, EventPublisher, GcraDecision, RedisCodeStore, RedisGcra, RedisLink,
    RedisSessionStore, RedisSettings, follow_events,
};
use portcullis_store::conformance::{code_cases, session_cases};
use portcullis_testkit::services::TestRedis;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

fn link(redis: &TestRedis) -> Arc<RedisLink> {
    Arc::new(RedisLink::new(redis.url()).expect("URL"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_behave_as_the_sql_store() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let codes = RedisCodeStore::new(link(&redis), redis.prefix());
    code_cases::codes_are_single_use(&codes).await;
    code_cases::concurrent_code_redemption_has_one_winner(&codes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_behave_as_the_sql_store() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let sessions = RedisSessionStore::new(link(&redis), redis.prefix());
    session_cases::sessions_round_trip(&sessions, "user-1").await;
}

#[tokio::test]
async fn gcra_bursts_then_refuses_with_the_wait() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let limiter = RedisGcra::new(link(&redis), redis.prefix());
    let interval = Duration::from_secs(20); // 3 per minute
    for _ in 0..3 {
        assert!(matches!(
            limiter.acquire("k", interval, 3).await.expect("redis"),
            GcraDecision::Allowed { .. }
        ));
    }
    match limiter.acquire("k", interval, 3).await.expect("redis") {
        GcraDecision::Refused { retry_after } => {
            assert!(retry_after > Duration::from_secs(15) && retry_after <= interval);
        }
        other => panic!("fourth request allowed: {other:?}"),
    }
    assert!(
        matches!(
            limiter.acquire("other", interval, 3).await.expect("redis"),
            GcraDecision::Allowed { .. }
        ),
        "limits are per key"
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast() {
    let limiter = RedisGcra::new(
        Arc::new(RedisLink::new("redis://127.0.0.1:1").expect("URL")),
        "nowhere",
    );
    assert!(
        limiter
            .acquire("k", Duration::from_secs(1), 1)
            .await
            .is_err()
    );
    let started = std::time::Instant::now();
    assert!(
        limiter
            .acquire("k", Duration::from_secs(1), 1)
            .await
            .is_err()
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "within the back-off, calls fail without trying"
    );
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<ClusterEvent>>,
    connected: Mutex<u32>,
}

impl EventHandler for Recorder {
    fn connected(&self) {
        *self.connected.lock().unwrap() += 1;
    }
    fn disconnected(&self) {}
    fn event(&self, event: ClusterEvent) {
        self.events.lock().unwrap().push(event);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_reach_followers() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let settings = RedisSettings {
        url: redis.url().to_owned(),
        prefix: redis.prefix().to_owned(),
    };
    let recorder = Arc::new(Recorder::default());
    let (stop, stopped) = watch::channel(false);
    let follower = tokio::spawn(follow_events(settings.clone(), recorder.clone(), stopped));
    while *recorder.connected.lock().unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let publisher = EventPublisher::start(&settings, "http://issuer").expect("publisher");
    publisher.revoked(&RevocationEntry {
        cursor: 1,
        kind: RevocationKind::Session,
        value: "sid-1".into(),
        expires_at: 99,
    });
    publisher.keys_changed();
    publisher.flush().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while recorder.events.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "announcements lost");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *recorder.events.lock().unwrap(),
        [
            ClusterEvent::Revoked {
                issuer: "http://issuer".into(),
                kind: "sid".into(),
                value: "sid-1".into(),
                expires_at: 99,
            },
            ClusterEvent::KeysChanged {
                issuer: "http://issuer".into()
            },
        ]
    );
    let _ = stop.send(true);
    follower.await.expect("follower stops");
}
