//! Against the real Redis of `PORTCULLIS_TEST_REDIS_URL` and the Redis Cluster of
//! `PORTCULLIS_TEST_REDIS_CLUSTER_URL` (each skipped without its variable, failing under
//! `CI=true`): every case runs on both, each test under its own key prefix.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{ClusterAnnouncer, RevocationEntry, RevocationKind};
use portcullis_redis::{
    ClusterEvent, EventHandler, EventPublisher, GcraDecision, RedisCodeStore, RedisGatewaySessions,
    RedisGcra, RedisLink, RedisReplay, RedisSessionStore, RedisSettings, RedisThrottle,
    follow_events,
};
use portcullis_service::SessionStore;
use portcullis_store::conformance::{code_cases, session_cases};
use portcullis_testkit::services::TestRedis;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Runs each case against the Redis that `$create` gives.
macro_rules! on_redis {
    ($module:ident, $create:path) => {
        mod $module {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn codes_behave_as_the_sql_store() {
                if let Some(redis) = $create() {
                    super::codes_behave_as_the_sql_store(&redis).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn gateway_sessions_behave_as_in_memory() {
                if let Some(redis) = $create() {
                    super::gateway_sessions_behave_as_in_memory(&redis).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sessions_behave_as_the_sql_store() {
                if let Some(redis) = $create() {
                    super::sessions_behave_as_the_sql_store(&redis).await;
                }
            }

            #[tokio::test]
            async fn gcra_bursts_then_refuses_with_the_wait() {
                if let Some(redis) = $create() {
                    super::gcra_bursts_then_refuses_with_the_wait(&redis).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sign_in_attempts_are_counted_once_for_the_cluster() {
                if let Some(redis) = $create() {
                    super::sign_in_attempts_are_counted_once_for_the_cluster(&redis).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_proof_used_at_one_server_is_refused_at_another() {
                if let Some(redis) = $create() {
                    super::a_proof_used_at_one_server_is_refused_at_another(&redis).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn announcements_reach_followers() {
                if let Some(redis) = $create() {
                    super::announcements_reach_followers(redis.settings()).await;
                }
            }
        }
    };
}

on_redis!(on_server, portcullis_testkit::services::TestRedis::create);
on_redis!(
    on_cluster,
    portcullis_testkit::services::TestRedis::create_cluster
);

fn link(redis: &TestRedis) -> Arc<RedisLink> {
    Arc::new(RedisLink::new(&redis.settings()).expect("URL"))
}

async fn codes_behave_as_the_sql_store(redis: &TestRedis) {
    let codes = RedisCodeStore::new(link(redis), redis.prefix());
    code_cases::codes_are_single_use(&codes).await;
    code_cases::concurrent_code_redemption_has_one_winner(&codes).await;
}

async fn sessions_behave_as_the_sql_store(redis: &TestRedis) {
    let sessions = RedisSessionStore::new(link(redis), redis.prefix());
    session_cases::sessions_are_paged_newest_first(&sessions, "user-1").await;
    session_cases::sessions_round_trip(&sessions, "user-1").await;
}

async fn gateway_sessions_behave_as_in_memory(redis: &TestRedis) {
    use portcullis_store::conformance::gateway_session_cases as cases;
    let store = RedisGatewaySessions::new(link(redis), redis.prefix(), cases::LIMITS);
    cases::sessions_end_when_idle_old_replaced_or_named(&store).await;
    cases::sign_ins_are_used_once_expire_and_never_pile_up(&store).await;
}

async fn gcra_bursts_then_refuses_with_the_wait(redis: &TestRedis) {
    let limiter = RedisGcra::new(link(redis), redis.prefix());
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

/// Two auth servers share one Redis: concurrent wrong passwords for one account, spread over
/// both, pass the throttle exactly `lock_after` times; the network is slowed, never locked; a
/// success frees the account but not the network's count.
/// Two servers (or gateways) of one cluster share what DPoP proofs were used: one `SET NX`.
async fn a_proof_used_at_one_server_is_refused_at_another(redis: &TestRedis) {
    use portcullis_core::replay::FirstUse;
    use portcullis_service::ProofReplay;
    let server = |_| {
        RedisReplay::new(
            Arc::new(RedisLink::new(&redis.settings()).expect("link")),
            redis.prefix(),
        )
    };
    let (first, second) = (server(1), server(2));
    let now = 1_800_000_000;
    assert_eq!(
        first.first_use("jkt:j1", now + 60, now).await,
        FirstUse::Yes
    );
    assert_eq!(
        second.first_use("jkt:j1", now + 60, now).await,
        FirstUse::Replayed
    );
    assert_eq!(
        first.first_use("jkt:j1", now + 60, now).await,
        FirstUse::Replayed
    );
    assert_eq!(
        second.first_use("jkt:j2", now + 60, now).await,
        FirstUse::Yes
    );
}

async fn sign_in_attempts_are_counted_once_for_the_cluster(redis: &TestRedis) {
    use portcullis_core::throttle::{AttemptKeys, ThrottleDecision, ThrottlePolicy};
    use portcullis_service::SignInThrottle;
    let policy = ThrottlePolicy {
        free_attempts: 1,
        lock_after: 3,
        network_free_attempts: 2,
        base_delay_ms: 10,
        ..ThrottlePolicy::default()
    };
    let servers = [
        RedisThrottle::new(link(redis), redis.prefix(), policy),
        RedisThrottle::new(link(redis), redis.prefix(), policy),
    ];
    let attacker: std::net::IpAddr = "2001:db8:7:7::1".parse().expect("ip");
    let victim = AttemptKeys::new("Victim", attacker);
    let attempts = (0..40).map(|n| servers[n % 2].reserve(&victim, 1_000));
    let decisions: Vec<ThrottleDecision> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|decision| decision.expect("redis"))
        .collect();
    let allowed = decisions
        .iter()
        .filter(|decision| matches!(decision, ThrottleDecision::Allow(_)))
        .count();
    assert_eq!(allowed, 3, "{decisions:?}");
    assert!(decisions.contains(&ThrottleDecision::Locked(1_000 + policy.lock_secs)));
    // Another account from the same /64 is slowed (the network failed often), not locked.
    let neighbour = AttemptKeys::new("neighbour", "2001:db8:7:7::2".parse().expect("ip"));
    assert!(matches!(
        servers[0].reserve(&neighbour, 1_000).await.expect("redis"),
        ThrottleDecision::Allow(delay) if delay > Duration::ZERO
    ));
    // A success frees its account on every server; the network's count stays.
    let home: std::net::IpAddr = "192.0.2.10".parse().expect("ip");
    let alice = AttemptKeys::new("alice", home);
    for _ in 0..2 {
        servers[0].reserve(&alice, 1_000).await.expect("redis");
    }
    servers[1].succeeded(&alice, 1_000).await.expect("redis");
    for _ in 0..2 {
        assert_eq!(
            servers[0].reserve(&alice, 1_001).await.expect("redis"),
            ThrottleDecision::Allow(Duration::ZERO),
            "the account starts over"
        );
    }
    let bob = AttemptKeys::new("bob", home);
    assert!(
        matches!(
            servers[1].reserve(&bob, 1_001).await.expect("redis"),
            ThrottleDecision::Allow(delay) if delay > Duration::ZERO
        ),
        "alice's success did not reset the network: its failures slow bob"
    );
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast() {
    for cluster in [false, true] {
        let url = if cluster {
            "redis://127.0.0.1:1,redis://127.0.0.1:2"
        } else {
            "redis://127.0.0.1:1"
        };
        let nowhere = RedisSettings {
            url: url.into(),
            prefix: "nowhere".into(),
            cluster,
        };
        let limiter = RedisGcra::new(Arc::new(RedisLink::new(&nowhere).expect("URL")), "nowhere");
        // The first call tries to connect (bounded); the next, within the back-off, does not.
        for (attempt, bound) in [
            ("connecting is bounded", Duration::from_secs(2)),
            (
                "within the back-off, calls fail without trying",
                Duration::from_millis(100),
            ),
        ] {
            let started = std::time::Instant::now();
            let decision = limiter.acquire("k", Duration::from_secs(1), 1).await;
            assert!(decision.is_err(), "cluster {cluster}: {attempt}");
            assert!(started.elapsed() < bound, "cluster {cluster}: {attempt}");
        }
    }
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

async fn announcements_reach_followers(settings: RedisSettings) {
    let recorder = Arc::new(Recorder::default());
    let (stop, stopped) = watch::channel(false);
    let follower = tokio::spawn(follow_events(settings.clone(), recorder.clone(), stopped));
    while *recorder.connected.lock().unwrap() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let publisher = EventPublisher::start(&settings, "http://issuer").expect("publisher");
    publisher.revoked(&RevocationEntry {
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

/// The keys of `pattern` on each node of `redis` (each a master of the test cluster).
fn keys_per_node(redis: &TestRedis, pattern: &str) -> Vec<usize> {
    redis
        .settings()
        .nodes()
        .into_iter()
        .map(|node| {
            let mut connection = redis::Client::open(node)
                .expect("URL")
                .get_connection()
                .expect("node");
            redis::cmd("KEYS")
                .arg(pattern)
                .query::<Vec<String>>(&mut connection)
                .expect("KEYS")
                .len()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_limits_spread_over_the_shards_and_sessions_share_one_slot() {
    let Some(redis) = TestRedis::create_cluster() else {
        return;
    };
    let limiter = RedisGcra::new(link(&redis), redis.prefix());
    for key in 0..30 {
        limiter
            .acquire(&format!("client-{key}"), Duration::from_secs(1), 5)
            .await
            .expect("redis cluster");
    }
    let rate_keys = keys_per_node(&redis, &format!("{}:rate:*", redis.prefix()));
    assert_eq!(rate_keys.iter().sum::<usize>(), 30);
    assert!(
        rate_keys.iter().filter(|&&count| count > 0).count() >= 2,
        "rate-limit keys spread over the shards: {rate_keys:?}"
    );

    let sessions = RedisSessionStore::new(link(&redis), redis.prefix());
    session_cases::sessions_round_trip(&sessions, "user-1").await;
    let session_keys = keys_per_node(&redis, &format!("{}:{{sessions}}:*", redis.prefix()));
    assert_eq!(
        session_keys.iter().filter(|&&count| count > 0).count(),
        1,
        "every session key on the node of the one slot: {session_keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_an_unreachable_seed_is_skipped() {
    let Some(redis) = TestRedis::create_cluster() else {
        return;
    };
    let mut settings = redis.settings();
    settings.url = format!("redis://127.0.0.1:1,{}", settings.url);
    announcements_reach_followers(settings).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_across_pages() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let sessions = RedisSessionStore::new(link(&redis), redis.prefix());
    let far = i64::try_from(std::time::UNIX_EPOCH.elapsed().expect("clock").as_secs())
        .expect("seconds")
        + 3600;
    for n in 0..1_100u32 {
        let mut secret_hash = [0u8; 32];
        secret_hash[..4].copy_from_slice(&n.to_be_bytes());
        let session = portcullis_core::Session {
            secret_hash: secret_hash.to_vec(),
            sid: format!("sid-{n}"),
            user_id: "user-1".into(),
            auth_time: 100,
            amr: portcullis_core::AuthMethods::password(),
            identity_provider: None,
            created_at: i64::from(n),
            last_seen_at: 100,
            expires_at: far,
        };
        sessions.create_session(&session).await.expect("create");
    }
    sessions.delete_session("sid-7").await.expect("delete");
    let listed = sessions.list_sessions().await.expect("list");
    assert_eq!(listed.len(), 1_099, "every page read, the deleted one gone");
    assert_eq!(listed.first().map(|s| s.sid.as_str()), Some("sid-1099"));
}
