//! Conformance cases shared with backends outside this crate (feature `conformance`): a Redis
//! code store must behave exactly as the SQL one. The full suite is `tests/conformance.rs`.
#![allow(clippy::expect_used, clippy::panic)]

/// Cases of [`crate::CodeStore`].
pub mod code_cases {
    use crate::CodeStore;
    use portcullis_core::{AuthorizationCodeRecord, CodeRedemption};

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
            expires_at: 60,
        };
        store.insert_code(&code).await.expect("insert");
        assert_eq!(
            store.redeem_code(&[1; 32], 10).await.expect("redeem"),
            CodeRedemption::Fresh(code.clone())
        );
        store
            .record_code_tokens(&[1; 32], Some("fam"), ("jti-1", 900))
            .await
            .expect("record");
        assert_eq!(
            store.redeem_code(&[1; 32], 11).await.expect("redeem"),
            CodeRedemption::Replayed {
                record: code,
                family_id: Some("fam".into()),
                access_token: Some(("jti-1".into(), 900))
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
