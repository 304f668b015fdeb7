//! Conformance cases shared with backends outside this crate (feature `conformance`): a Redis
//! code store must behave exactly as the SQL one. The full suite is `tests/conformance.rs`.
#![allow(clippy::expect_used, clippy::panic)]

/// Cases of [`portcullis_service::CodeStore`].
pub mod code_cases {
    use portcullis_core::{AuthorizationCodeRecord, CodeRedemption, IssuedAccessToken};
    use portcullis_service::CodeStore;

    /// A code redeems once; the second redemption reports the replay with what the first issued.
    pub async fn codes_are_single_use(store: &dyn CodeStore) {
        let code = AuthorizationCodeRecord {
            code_hash: vec![1; 32],
            client_id: "app".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: Some("c".repeat(43)),
            nonce: Some("n".into()),
            scope: "openid".into(),
            audiences: vec!["a".into(), "b".into()],
            user_id: "u".into(),
            sid: "s".into(),
            auth_time: 5,
            // Both factors, so a backend that drops them fails the round trip.
            amr: portcullis_core::AuthMethods::password()
                .with(&[portcullis_core::AuthMethod::OneTimeCode]),
            expires_at: 60,
        };
        store.insert_code(&code).await.expect("insert");
        let issued = IssuedAccessToken {
            jti: "jti-1".into(),
            expires_at: 900,
        };
        assert_eq!(
            store.redeem_code(&[1; 32], 10).await.expect("redeem"),
            CodeRedemption::Fresh(code.clone())
        );
        store
            .record_code_tokens(&[1; 32], Some("fam"), &issued)
            .await
            .expect("record");
        assert_eq!(
            store.redeem_code(&[1; 32], 11).await.expect("redeem"),
            CodeRedemption::Replayed {
                record: code,
                family_id: Some("fam".into()),
                access_token: Some(issued)
            }
        );
        assert_eq!(
            store.redeem_code(&[2; 32], 11).await.expect("redeem"),
            CodeRedemption::Unknown
        );
    }

    /// Two servers presenting the same code at the same moment: exactly one wins (RFC 6749 §4.1.2:
    /// a code is used once).
    pub async fn concurrent_code_redemption_has_one_winner(store: &dyn CodeStore) {
        let code = AuthorizationCodeRecord {
            code_hash: vec![7; 32],
            client_id: "app".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: None,
            nonce: None,
            scope: "openid".into(),
            audiences: vec![],
            user_id: "u".into(),
            sid: "s".into(),
            auth_time: 5,
            amr: portcullis_core::AuthMethods::password(),
            expires_at: 60,
        };
        store.insert_code(&code).await.expect("insert");
        let redemptions = tokio::join!(
            store.redeem_code(&[7; 32], 10),
            store.redeem_code(&[7; 32], 10)
        );
        let fresh = [&redemptions.0, &redemptions.1]
            .iter()
            .filter(|outcome| matches!(outcome, Ok(CodeRedemption::Fresh(_))))
            .count();
        assert_eq!(fresh, 1, "{redemptions:?}");
    }
}

/// Cases of [`portcullis_service::SessionStore`].
pub mod session_cases {
    use portcullis_core::Session;
    use portcullis_service::{SessionSearch, SessionStore};

    /// Sessions of `user_id` page newest first, by user, with a cursor that never repeats or
    /// skips one (two share a creation time, so the `sid` breaks the tie).
    pub async fn sessions_are_paged_newest_first(store: &dyn SessionStore, user_id: &str) {
        for (index, created_at) in [(1_u8, 100), (2, 200), (3, 200), (4, 300)] {
            store
                .create_session(&Session {
                    secret_hash: vec![index; 32],
                    sid: format!("page-{index}"),
                    user_id: user_id.to_owned(),
                    auth_time: created_at,
                    amr: portcullis_core::AuthMethods::password(),
                    identity_provider: None,
                    created_at,
                    last_seen_at: created_at,
                    expires_at: 10_000,
                })
                .await
                .expect("create");
        }
        let page = |user: Option<&str>, before: Option<(i64, String)>| {
            let search = SessionSearch {
                user_id: user.map(str::to_owned),
                before,
                limit: 2,
            };
            async move {
                store
                    .search_sessions(&search)
                    .await
                    .expect("search")
                    .into_iter()
                    .map(|session| (session.created_at, session.sid))
                    .collect::<Vec<_>>()
            }
        };
        let first = page(None, None).await;
        assert_eq!(first, [(300, "page-4".into()), (200, "page-3".into())]);
        let second = page(None, first.last().cloned()).await;
        assert_eq!(second, [(200, "page-2".into()), (100, "page-1".into())]);
        assert!(page(None, second.last().cloned()).await.is_empty());
        assert_eq!(page(Some(user_id), None).await, first);
        assert!(page(Some("someone-else"), None).await.is_empty());
        for index in 1..=4 {
            store
                .delete_session(&format!("page-{index}"))
                .await
                .expect("delete");
        }
    }

    /// Create, find, touch, list, purge idle, delete by `sid`, for a session of `user_id` (an
    /// existing user: the database checks it).
    pub async fn sessions_round_trip(store: &dyn SessionStore, user_id: &str) {
        let session = Session {
            secret_hash: vec![9; 32],
            sid: "sid-1".into(),
            user_id: user_id.to_owned(),
            auth_time: 100,
            amr: portcullis_core::AuthMethods::federated()
                .with(&[portcullis_core::AuthMethod::OneTimeCode]),
            identity_provider: Some("corp".into()),
            created_at: 100,
            last_seen_at: 100,
            expires_at: 10_000,
        };
        store.create_session(&session).await.expect("create");
        assert_eq!(
            store.find_session(&[9; 32]).await.expect("find"),
            Some(session.clone())
        );
        store.touch_session(&[9; 32], 200).await.expect("touch");
        assert_eq!(
            store
                .find_session(&[9; 32])
                .await
                .expect("find")
                .map(|s| s.last_seen_at),
            Some(200)
        );
        assert_eq!(store.list_sessions().await.expect("list").len(), 1);
        assert_eq!(store.purge_sessions(250, 100).await.expect("purge"), 0);
        assert_eq!(
            store.purge_sessions(300, 100).await.expect("purge"),
            1,
            "idle session purged"
        );
        store.create_session(&session).await.expect("create again");
        assert_eq!(
            store
                .delete_session("sid-1")
                .await
                .expect("delete")
                .map(|s| s.sid),
            Some("sid-1".into())
        );
        assert_eq!(store.delete_session("sid-1").await.expect("delete"), None);
        assert!(store.list_sessions().await.expect("list").is_empty());

        let older = Session {
            secret_hash: vec![7; 32],
            sid: "sid-older".into(),
            created_at: 50,
            ..session.clone()
        };
        store.create_session(&older).await.expect("create");
        store.create_session(&session).await.expect("create");
        let listed = store.list_sessions().await.expect("list");
        assert_eq!(
            listed.iter().map(|s| s.sid.as_str()).collect::<Vec<_>>(),
            ["sid-1", "sid-older"],
            "newest first"
        );
        store.delete_session("sid-older").await.expect("delete");
        assert_eq!(
            store.list_sessions().await.expect("list"),
            std::slice::from_ref(&session),
            "a deleted session is no longer listed"
        );
        assert_eq!(
            store.list_sessions_of_user(user_id).await.expect("list"),
            [session]
        );
        assert!(
            store
                .list_sessions_of_user("someone-else")
                .await
                .expect("list")
                .is_empty()
        );
    }
}
/// Cases of [`portcullis_service::ports::GatewaySessionStore`], for a store made with
/// [`LIMITS`](gateway_session_cases::LIMITS).
pub mod gateway_session_cases {
    use portcullis_service::ports::{
        CreateError, GatewaySessionStore, PendingLogin, SessionRecord, StoreLimits,
    };

    /// When the cases start (2033: a Redis expiry at these times lies ahead).
    const T: i64 = 2_000_000_000;

    /// The limits the store of the cases is made with.
    pub const LIMITS: StoreLimits = StoreLimits {
        idle_timeout_secs: 100,
        absolute_timeout_secs: 1_000,
        pending_timeout_secs: 600,
        max_sessions: 3,
        sessions_per_user: 2,
        max_pending: 2,
    };

    fn session(subject: &str, sid: &str, created_at: i64) -> SessionRecord {
        SessionRecord {
            subject: subject.into(),
            provider_session: Some(sid.into()),
            access_expires_at: T + created_at + 300,
            sealed_tokens: "sealed".into(),
            created_at: T + created_at,
            last_seen: T + created_at,
        }
    }

    fn pending(created_at: i64) -> PendingLogin {
        PendingLogin {
            state: "s".into(),
            nonce: "n".into(),
            code_verifier: "v".into(),
            browser: "b".into(),
            return_to: "/".into(),
            created_at: T + created_at,
        }
    }

    /// Sessions end when idle, when old, when a user has too many, and when named by user or
    /// provider session; beyond the global cap none is made.
    pub async fn sessions_end_when_idle_old_replaced_or_named(store: &dyn GatewaySessionStore) {
        store
            .create("a".into(), session("ann", "s1", 0))
            .await
            .expect("made");
        assert!(store.touch("a", T + 90).await.expect("store").is_some());
        assert!(
            store.touch("a", T + 180).await.expect("store").is_some(),
            "used at 90"
        );
        assert!(
            store.touch("a", T + 281).await.expect("store").is_none(),
            "idle"
        );
        assert!(
            store.touch("a", T + 10).await.expect("store").is_none(),
            "removed"
        );
        store
            .create("b".into(), session("bob", "s2", 0))
            .await
            .expect("made");
        for now in (90..1_000).step_by(90) {
            assert!(store.touch("b", T + now).await.expect("store").is_some());
        }
        assert!(
            store.touch("b", T + 1_000).await.expect("store").is_none(),
            "absolute"
        );

        store
            .create("c1".into(), session("cy", "s3", 1))
            .await
            .expect("made");
        store
            .create("c2".into(), session("cy", "s4", 2))
            .await
            .expect("made");
        store
            .create("c3".into(), session("cy", "s5", 3))
            .await
            .expect("made");
        assert!(
            store.touch("c1", T + 3).await.expect("store").is_none(),
            "two per user"
        );
        store
            .create("d".into(), session("dee", "s6", 4))
            .await
            .expect("made");
        assert!(matches!(
            store.create("e".into(), session("eve", "s7", 5)).await,
            Err(CreateError::Full)
        ));
        let ended = |subject, sid| store.end_matching(subject, sid);
        assert_eq!(ended(None, Some("s4")).await.expect("store"), 1);
        assert_eq!(ended(Some("cy"), Some("s6")).await.expect("store"), 0);
        assert_eq!(ended(Some("cy"), None).await.expect("store"), 1);
        assert_eq!(ended(None, None).await.expect("store"), 0);
        assert!(store.touch("d", T + 5).await.expect("store").is_some());
    }

    /// A pending sign-in is taken once, expires, and the oldest go beyond the cap.
    pub async fn sign_ins_are_used_once_expire_and_never_pile_up(store: &dyn GatewaySessionStore) {
        store.begin("p1".into(), pending(0)).await.expect("kept");
        store.begin("p2".into(), pending(1)).await.expect("kept");
        store.begin("p3".into(), pending(2)).await.expect("kept");
        let taken = |key, now| store.take_pending(key, T + now);
        assert!(
            taken("p1", 3).await.expect("store").is_none(),
            "the oldest went"
        );
        assert!(taken("p2", 3).await.expect("store").is_some());
        assert!(taken("p2", 3).await.expect("store").is_none(), "used once");
        assert!(taken("p3", 602).await.expect("store").is_none(), "expired");
    }
}
