//! The store conformance suite: behaviour every backend must show, run against SQLite and
//! PostgreSQL (the latter needs `PORTCULLIS_TEST_POSTGRES_URL`; see `portcullis_testkit::services`).
//! Each case takes `&dyn Store`, so a new backend adds one line per case.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{
    AuditRecord, Client, ClientKind, ClientRegistration, IssuedAccessToken, KeyMetadata, NewUser,
    OutboxStatus, OutgoingEmail, RefreshOutcome, RefreshTokenFamily, RefreshTokenRecord, ResetLink,
    RevocationEntry, RevocationKind, Role, SecretHash, SigningKeyRecord, User, Username,
};
use portcullis_jose::Algorithm;
use portcullis_service::{ClientSearch, Store, StoreError};
use portcullis_store::SqlStore;
use portcullis_store::conformance::{code_cases, session_cases};
use portcullis_types::GrantType;
use tempfile::TempDir;

#[path = "conformance/factors.rs"]
mod factors;
use factors::{
    an_app_is_added_once_and_each_step_is_used_once,
    passkeys_belong_to_one_user_and_record_their_use,
    recovery_codes_are_single_use_and_reset_with_the_app,
};
#[path = "conformance/device_grants.rs"]
mod device_grants;
use device_grants::device_grants_are_decided_once_and_ended_once;
#[path = "conformance/federation.rs"]
mod federation;
use federation::{
    providers_are_stored_without_their_secret_in_the_clear,
    upstream_identities_link_once_and_go_with_their_account,
};
#[path = "conformance/personal_access_tokens.rs"]
mod personal_access_tokens;
use personal_access_tokens::personal_access_tokens_belong_to_their_owner_and_go_with_it;
#[path = "conformance/pushed_requests.rs"]
mod pushed_requests;
use pushed_requests::pushed_requests_serve_their_client_until_answered_or_expired;
#[path = "conformance/registration.rs"]
mod registration;
use registration::{
    invitations_are_single_use_and_expire,
    registrations_wait_for_their_address_and_reserve_only_the_name,
    verification_links_verify_once_and_change_the_address,
};

async fn sqlite() -> (TempDir, SqlStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqlStore::open_sqlite(&dir.path().join("portcullis.db"))
        .await
        .expect("open");
    (dir, store)
}

fn user(name: &str) -> User {
    NewUser {
        username: Username::parse(name).expect("username"),
        roles: vec!["admin".into(), "user".into()],
        email: Some(format!("{name}@example.com")),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
    }
    .into_user(1_000)
}

fn client(id: &str, kind: ClientKind) -> Client {
    let (grants, secret, redirects) = match kind {
        ClientKind::Confidential => (
            vec![GrantType::ClientCredentials],
            Some(SecretHash::of("s")),
            vec![],
        ),
        ClientKind::Public => (
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            None,
            vec![
                "http://127.0.0.1/cb".to_owned(),
                "https://app.example/cb".to_owned(),
            ],
        ),
    };
    ClientRegistration {
        id: id.into(),
        kind,
        grant_types: grants,
        redirect_uris: redirects,
        scopes: vec!["read".into(), "write".into()],
        audiences: vec!["https://api.example".into()],
        access_token_lifetime_secs: Some(300),
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_algorithm: None,
        keys: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        require_mfa: false,
        require_pushed_authorization_requests: false,
        client_name: None,
        request_uris: Vec::new(),
        request_object_signing_alg: None,
    }
    .into_client(secret, 3600, 2_000)
    .expect("client")
}

async fn users_round_trip_with_case_insensitive_names(store: &dyn Store) {
    let alice = user("Alice");
    store.create_user(&alice).await.expect("create");
    assert!(matches!(
        store.create_user(&user("ALICE")).await,
        Err(StoreError::Conflict(_))
    ));
    let found = store.find_user_by_username("alice").await.expect("find");
    assert_eq!(found.as_ref(), Some(&alice));
    assert_eq!(
        found.map(|u| u.username.as_str().to_owned()).as_deref(),
        Some("Alice")
    );
    store.create_user(&user("bob")).await.expect("create");
    let names: Vec<String> = store
        .list_users()
        .await
        .expect("list")
        .iter()
        .map(|u| u.username.to_string())
        .collect();
    assert_eq!(names, ["Alice", "bob"]);
}

async fn users_update_and_delete(store: &dyn Store) {
    store.create_user(&user("carol")).await.expect("create");
    assert!(
        store
            .set_password_hash("CAROL", "$new")
            .await
            .expect("update")
    );
    assert!(
        store
            .set_roles("carol", &["viewer".into()])
            .await
            .expect("update")
    );
    assert!(
        store
            .set_disabled_at("carol", Some(5))
            .await
            .expect("update")
    );
    let carol = store
        .find_user_by_username("carol")
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        (
            carol.password_hash.as_str(),
            carol.roles.as_slice(),
            carol.disabled_at
        ),
        ("$new", &["viewer".to_owned()][..], Some(5))
    );
    assert!(!store.set_roles("nobody", &[]).await.expect("update"));
    assert!(store.delete_user("Carol").await.expect("delete"));
    assert!(!store.delete_user("carol").await.expect("delete"));
    assert_eq!(
        store.find_user_by_username("carol").await.expect("find"),
        None
    );
}

async fn users_are_searched_and_paged_by_username(store: &dyn Store) {
    use portcullis_service::UserSearch;
    for name in ["bob", "Alice", "alan", "al_x", "carol", "ALBERT"] {
        store.create_user(&user(name)).await.expect("create");
    }
    let names = |users: Vec<User>| -> Vec<String> {
        users.iter().map(|user| user.username.to_string()).collect()
    };
    let search = |prefix: Option<&str>, after: Option<&str>, limit| UserSearch {
        prefix: prefix.map(str::to_owned),
        after: after.map(str::to_owned),
        limit,
    };
    assert_eq!(
        names(
            store
                .search_users(&search(Some("AL"), None, 10))
                .await
                .expect("search")
        ),
        ["al_x", "alan", "ALBERT", "Alice"],
        "a prefix in any letter case, ordered by lowercase key"
    );
    let first = store
        .search_users(&search(None, None, 2))
        .await
        .expect("page");
    assert_eq!(names(first.clone()), ["al_x", "alan"]);
    let after = first.last().map(|user| user.username.key());
    let second = store
        .search_users(&search(None, after.as_deref(), 3))
        .await
        .expect("page");
    assert_eq!(names(second), ["ALBERT", "Alice", "bob"]);
    assert!(
        store
            .search_users(&search(Some("z"), None, 10))
            .await
            .expect("search")
            .is_empty()
    );
    assert!(
        store
            .set_email("alice", Some("new@example.com"), None)
            .await
            .expect("set")
    );
    let alice = store.find_user_by_username("ALICE").await.expect("find");
    assert_eq!(
        alice.expect("alice").email.as_deref(),
        Some("new@example.com")
    );
    assert!(store.set_email("alice", None, None).await.expect("clear"));
    assert!(
        !store
            .set_email("nobody", None, None)
            .await
            .expect("missing")
    );
}

async fn clients_round_trip(store: &dyn Store) {
    let service = client("svc", ClientKind::Confidential);
    let app = client("app", ClientKind::Public);
    store.create_client(&service).await.expect("create");
    store.create_client(&app).await.expect("create");
    assert!(matches!(
        store.create_client(&service).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.find_client("svc").await.expect("find"),
        Some(service.clone())
    );
    assert_eq!(
        store.find_client("app").await.expect("find"),
        Some(app.clone())
    );
    assert_eq!(
        store.find_client("SVC").await.expect("find"),
        None,
        "client ids are exact"
    );
    assert_eq!(store.list_clients().await.expect("list"), [app, service]);
}

async fn clients_are_searched_and_paged_by_id(store: &dyn Store) {
    for id in ["billing", "billing-eu", "Billing", "reports", "b-team"] {
        store
            .create_client(&client(id, ClientKind::Confidential))
            .await
            .expect("create");
    }
    let page = |prefix: Option<&str>, after: Option<&str>, limit| {
        let search = ClientSearch {
            prefix: prefix.map(str::to_owned),
            after: after.map(str::to_owned),
            limit,
        };
        async move {
            store
                .search_clients(&search)
                .await
                .expect("search")
                .into_iter()
                .map(|client| client.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        page(None, None, 10).await,
        ["Billing", "b-team", "billing", "billing-eu", "reports"],
        "byte order, whatever the database's collation"
    );
    assert_eq!(
        page(Some("billing"), None, 10).await,
        ["billing", "billing-eu"],
        "ids are case-sensitive"
    );
    assert_eq!(page(Some("b"), None, 1).await, ["b-team"]);
    assert_eq!(page(Some("b"), Some("b-team"), 1).await, ["billing"]);
    assert_eq!(page(Some("b"), Some("billing"), 5).await, ["billing-eu"]);
    assert!(page(Some("x"), None, 5).await.is_empty());
}

async fn client_secret_rotation_and_delete(store: &dyn Store) {
    store
        .create_client(&client("svc", ClientKind::Confidential))
        .await
        .expect("create");
    store
        .create_client(&client("app", ClientKind::Public))
        .await
        .expect("create");
    assert!(
        store
            .set_client_secret_hash("svc", &SecretHash::of("new"))
            .await
            .expect("rotate")
    );
    assert!(
        !store
            .set_client_secret_hash("app", &SecretHash::of("x"))
            .await
            .expect("rotate"),
        "public clients have no secret"
    );
    let svc = store
        .find_client("svc")
        .await
        .expect("find")
        .expect("exists");
    assert!(svc.secret_is_valid(Some("new")) && !svc.secret_is_valid(Some("s")));
    assert!(store.delete_client("svc").await.expect("delete"));
    assert!(!store.delete_client("svc").await.expect("delete"));
}

async fn keyed_confidential_clients_have_no_secret(store: &dyn Store) {
    let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
    let keys = portcullis_core::ClientKeys::inline_from_json(jwks).expect("public keys");
    let mut keyed = client("signer", ClientKind::Confidential);
    keyed.secret_hash = None;
    keyed.keys = Some(keys);
    store
        .create_client(&keyed)
        .await
        .expect("a keyed client needs no secret");
    let stored = store.find_client("signer").await.expect("find");
    assert_eq!(stored.as_ref(), Some(&keyed));
    assert_eq!(
        stored.map(|client| client.authentication_method()),
        Some(portcullis_core::AuthenticationMethod::PrivateKeyJwt)
    );
    let mut bare = client("bare", ClientKind::Confidential);
    bare.secret_hash = None;
    assert!(
        store.create_client(&bare).await.is_err(),
        "a confidential client without secret or keys is refused by the schema too"
    );
}

async fn clients_are_updated_in_place(store: &dyn Store) {
    let original = client("app", ClientKind::Public);
    store.create_client(&original).await.expect("create");
    let changed = Client {
        scopes: portcullis_core::ScopeSet::parse("openid email").expect("scope"),
        audiences: vec!["https://other.example".into()],
        access_token_lifetime_secs: Some(120),
        first_party: true,
        post_logout_redirect_uris: vec!["https://app.example/bye".into()],
        id_token_algorithm: Some(Algorithm::Es256),
        keys: Some(portcullis_core::ClientKeys::Remote(
            "https://app.example/jwks".into(),
        )),
        dpop_bound_access_tokens: true,
        backchannel_logout_uri: Some("https://app.example/backchannel".into()),
        require_mfa: true,
        require_pushed_authorization_requests: true,
        client_name: Some("Application".into()),
        request_uris: Vec::new(),
        request_object_signing_alg: None,
        created_at: original.created_at + 999,
        ..original.clone()
    };
    assert!(store.update_client(&changed).await.expect("update"));
    let stored = store
        .find_client("app")
        .await
        .expect("find")
        .expect("client");
    assert_eq!(
        stored,
        Client {
            created_at: original.created_at,
            ..changed.clone()
        },
        "everything but the creation time replaced"
    );
    let missing = Client {
        id: "nobody".into(),
        ..changed.clone()
    };
    assert!(!store.update_client(&missing).await.expect("update"));

    // A self-registered client keeps its registration token through updates, and is counted.
    assert_eq!(
        store.count_self_described_clients().await.expect("count"),
        0
    );
    let token_hash = portcullis_core::SecretHash::of("registration token");
    let registered = Client {
        id: "dyn-1".into(),
        registration_token_hash: Some(token_hash.clone()),
        ..original.clone()
    };
    store.create_client(&registered).await.expect("create");
    assert_eq!(
        store.count_self_described_clients().await.expect("count"),
        1
    );
    let renamed = Client {
        client_name: Some("Renamed".into()),
        registration_token_hash: None,
        ..registered.clone()
    };
    assert!(store.update_client(&renamed).await.expect("update"));
    let stored = store
        .find_client("dyn-1")
        .await
        .expect("find")
        .expect("client");
    assert_eq!(stored.client_name.as_deref(), Some("Renamed"));
    assert_eq!(stored.registration_token_hash, Some(token_hash));
}

/// Deleting a client ends its refresh tokens; clients known by a metadata document are purged a
/// while after their copy expired, unless a refresh token of theirs is still alive.
async fn deleted_and_stale_document_clients_leave_no_grants(store: &dyn Store) {
    store
        .create_client(&client("app", ClientKind::Public))
        .await
        .expect("create");
    let first = RefreshTokenRecord {
        token_hash: vec![21; 32],
        family_id: "doomed".into(),
        created_at: 1,
        expires_at: 500,
    };
    store
        .create_family(&family("doomed", "sid-doomed"), &first, &access("jti-d"))
        .await
        .expect("family");
    assert!(store.delete_client("app").await.expect("delete"));
    assert!(
        store
            .find_refresh_token(&[21; 32])
            .await
            .expect("find")
            .is_none(),
        "the refresh token went with its client"
    );
    assert!(!store.delete_client("app").await.expect("delete"));

    let document = |id: &str, expires_at| Client {
        id: id.into(),
        metadata_document_expires_at: Some(expires_at),
        ..client("placeholder", ClientKind::Public)
    };
    for stale in [
        document("https://a.example/old", 100),
        document("https://a.example/kept", 100),
    ] {
        store.create_client(&stale).await.expect("create");
    }
    store
        .create_client(&document("https://a.example/fresh", 900))
        .await
        .expect("create");
    let kept_family = RefreshTokenFamily {
        client_id: "https://a.example/kept".into(),
        ..family("kept", "sid-kept")
    };
    let token = RefreshTokenRecord {
        token_hash: vec![22; 32],
        family_id: "kept".into(),
        created_at: 1,
        expires_at: 800,
    };
    store
        .create_family(&kept_family, &token, &access("jti-k"))
        .await
        .expect("family");
    assert_eq!(
        store
            .purge_stale_document_clients(500, 600)
            .await
            .expect("purge"),
        1,
        "only the stale one without a live refresh token"
    );
    for (id, present) in [
        ("https://a.example/old", false),
        ("https://a.example/kept", true),
        ("https://a.example/fresh", true),
    ] {
        assert_eq!(
            store.find_client(id).await.expect("find").is_some(),
            present,
            "{id}"
        );
    }
}

async fn signing_keys_round_trip(store: &dyn Store) {
    let key = |kid: &str, alg, created_at| SigningKeyRecord {
        metadata: KeyMetadata {
            kid: kid.into(),
            alg,
            created_at,
            activates_at: created_at + 60,
        },
        sealed_private_key: vec![1, 2, 3, 0, 255],
    };
    store
        .insert_signing_key(&key("b", Algorithm::Rs256, 20))
        .await
        .expect("insert");
    store
        .insert_signing_key(&key("a", Algorithm::EdDsa, 10))
        .await
        .expect("insert");
    assert!(matches!(
        store
            .insert_signing_key(&key("a", Algorithm::Es256, 30))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.list_signing_keys().await.expect("list"),
        [
            key("a", Algorithm::EdDsa, 10),
            key("b", Algorithm::Rs256, 20)
        ]
    );
    store.ping().await.expect("ping");
}

async fn roles_are_upserted_and_deleted(store: &dyn Store) {
    let role = |name: &str, scopes: &[&str], description: Option<&str>| {
        Role::new(
            name,
            scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            description.map(str::to_owned),
        )
        .expect("role")
    };
    assert_eq!(store.list_roles().await.expect("list"), []);
    let admin = role(
        "admin",
        &["portcullis:admin", "products:write"],
        Some("operators"),
    );
    let user = role("user", &[], None);
    store.put_role(&user, 10).await.expect("put");
    store.put_role(&admin, 10).await.expect("put");
    assert_eq!(
        store.list_roles().await.expect("list"),
        [admin, user.clone()]
    );
    let narrower = role("admin", &["products:write"], None);
    store.put_role(&narrower, 20).await.expect("replace");
    assert_eq!(
        store.list_roles().await.expect("list"),
        [narrower, user.clone()],
        "a second put replaces scopes and description"
    );
    assert!(store.delete_role("admin").await.expect("delete"));
    assert!(!store.delete_role("admin").await.expect("delete again"));
    assert_eq!(store.list_roles().await.expect("list"), [user]);
}

async fn logout_notices_are_queued_for_clients_with_a_uri(store: &dyn Store) {
    let mut told = client("told", ClientKind::Public);
    told.backchannel_logout_uri = Some("https://told.example/bc".into());
    let untold = client("untold", ClientKind::Public);
    store.create_client(&told).await.expect("create");
    store.create_client(&untold).await.expect("create");
    for (sid, client_id) in [
        ("s1", "told"),
        ("s1", "told"),
        ("s1", "untold"),
        ("s2", "told"),
    ] {
        store
            .record_session_client(sid, client_id, "u1", 100)
            .await
            .expect("record");
    }
    assert_eq!(
        store.queue_logout_notices("s1", 200).await.expect("queue"),
        1
    );
    assert_eq!(
        store.queue_logout_notices("s1", 201).await.expect("queue"),
        0,
        "a session's clients are told once"
    );
    let claimed = store
        .claim_due_logout_notices(200, 60, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (
            claimed[0].client_id.as_str(),
            claimed[0].subject.as_str(),
            claimed[0].sid.as_str()
        ),
        ("told", "u1", "s1")
    );
    assert!(
        store
            .claim_due_logout_notices(259, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "held by the lease"
    );
    store
        .postpone_logout_notice(claimed[0].id, 300, "answered 503")
        .await
        .expect("postpone");
    let again = store
        .claim_due_logout_notices(300, 60, 10)
        .await
        .expect("claim");
    assert_eq!(again[0].attempts, 1);
    store
        .remove_logout_notice(again[0].id)
        .await
        .expect("remove");
    assert_eq!(
        store.logout_notice_status().await.expect("status").pending,
        0
    );
    assert_eq!(
        store.purge_session_clients(101).await.expect("purge"),
        1,
        "s2's client is forgotten once s2 must have ended"
    );
    assert_eq!(
        store.queue_logout_notices("s2", 400).await.expect("queue"),
        0
    );
}

async fn the_outbox_keeps_messages_until_removed(store: &dyn Store) {
    let email = |to: &str| OutgoingEmail {
        to: to.into(),
        subject: "Verify your email".into(),
        text: "Open https://auth.example/verify?t=abc".into(),
        html: "<p>Open <a href=\"https://auth.example/verify?t=abc\">this link</a></p>".into(),
    };
    assert_eq!(
        store.outbox_status().await.expect("status"),
        OutboxStatus::default()
    );
    let first = store
        .enqueue_email(&email("a@example.com"), 100)
        .await
        .expect("enqueue");
    let second = store
        .enqueue_email(&email("b@example.com"), 101)
        .await
        .expect("enqueue");
    assert!(second > first);
    assert_eq!(
        store.outbox_status().await.expect("status"),
        OutboxStatus {
            pending: 2,
            oldest_created_at: Some(100)
        }
    );
    let claimed = store.claim_due_emails(200, 60, 10).await.expect("claim");
    assert_eq!(
        claimed.iter().map(|entry| entry.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert_eq!(claimed[0].email, email("a@example.com"));
    assert_eq!((claimed[0].attempts, claimed[0].created_at), (0, 100));
    assert!(
        store
            .claim_due_emails(259, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "held by the lease"
    );
    store.remove_email(first).await.expect("sent");
    store
        .postpone_email(second, 400, &"e".repeat(2_000))
        .await
        .expect("failed");
    assert!(
        store
            .claim_due_emails(399, 60, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not yet due"
    );
    let retried = store.claim_due_emails(400, 60, 10).await.expect("claim");
    assert_eq!((retried.len(), retried[0].attempts), (1, 1));
    assert_eq!(
        store.outbox_status().await.expect("status"),
        OutboxStatus {
            pending: 1,
            oldest_created_at: Some(101)
        }
    );
    store.remove_email(second).await.expect("sent");
    assert_eq!(store.outbox_status().await.expect("status").pending, 0);
}

async fn concurrent_claims_take_each_message_once(store: &dyn Store) {
    for index in 0..20 {
        let email = OutgoingEmail {
            to: format!("user{index}@example.com"),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        };
        store.enqueue_email(&email, 10).await.expect("enqueue");
    }
    let claims = tokio::join!(
        store.claim_due_emails(20, 60, 20),
        store.claim_due_emails(20, 60, 20),
        store.claim_due_emails(20, 60, 20),
        store.claim_due_emails(20, 60, 20),
    );
    let mut ids: Vec<i64> = [claims.0, claims.1, claims.2, claims.3]
        .into_iter()
        .flat_map(|claim| claim.expect("claim"))
        .map(|entry| entry.id)
        .collect();
    let claimed = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        (claimed, ids.len()),
        (20, 20),
        "every message claimed exactly once"
    );
}

async fn reset_links_are_single_use_superseded_and_expire(store: &dyn Store) {
    let mut alice = user("alice");
    alice.email = Some("Alice@Example.com".into());
    store.create_user(&alice).await.expect("user");
    let found = store
        .find_users_by_email("alice@example.com")
        .await
        .expect("by email");
    assert_eq!(
        found
            .iter()
            .map(|user| user.id.as_str())
            .collect::<Vec<_>>(),
        [alice.id.as_str()]
    );
    assert!(
        store
            .find_users_by_email("bob@example.com")
            .await
            .expect("by email")
            .is_empty()
    );

    store
        .queue_reset_request("alice@example.com", 100)
        .await
        .expect("queue");
    store
        .queue_reset_request("nobody@example.com", 101)
        .await
        .expect("queue");
    let requests = store.reset_requests(10).await.expect("requests");
    assert_eq!(
        requests
            .iter()
            .map(|request| request.email_key.as_str())
            .collect::<Vec<_>>(),
        ["alice@example.com", "nobody@example.com"]
    );
    let link = |hash: u8| ResetLink {
        token_hash: vec![hash; 32],
        user_id: alice.id.clone(),
        expires_at: 1_000,
    };
    let message = OutgoingEmail {
        to: "Alice@Example.com".into(),
        subject: "Reset".into(),
        text: "t".into(),
        html: "h".into(),
    };
    store
        .settle_reset_request(requests[0].id, &[(link(1), message.clone())], 100)
        .await
        .expect("settle");
    store
        .settle_reset_request(requests[0].id, &[(link(9), message.clone())], 100)
        .await
        .expect("settled twice");
    store
        .settle_reset_request(requests[1].id, &[], 101)
        .await
        .expect("settle");
    assert!(store.reset_requests(10).await.expect("requests").is_empty());
    assert_eq!(
        store.outbox_status().await.expect("outbox").pending,
        1,
        "one message, queued with the link; a second settling does nothing"
    );
    assert_eq!(
        store.find_reset_link(&[9; 32], 100).await.expect("find"),
        None
    );
    assert_eq!(
        store.find_reset_link(&[1; 32], 999).await.expect("find"),
        Some(alice.id.clone())
    );
    assert_eq!(
        store.find_reset_link(&[1; 32], 1_000).await.expect("find"),
        None,
        "expired"
    );

    store
        .queue_reset_request("alice@example.com", 200)
        .await
        .expect("queue");
    let newer = store.reset_requests(10).await.expect("requests");
    store
        .settle_reset_request(newer[0].id, &[(link(2), message)], 200)
        .await
        .expect("settle");
    assert_eq!(
        store.find_reset_link(&[1; 32], 300).await.expect("find"),
        None,
        "superseded"
    );
    let uses = tokio::join!(
        store.use_reset_link(&[2; 32], 300),
        store.use_reset_link(&[2; 32], 300)
    );
    let winners = [uses.0.expect("use"), uses.1.expect("use")];
    assert_eq!(
        winners
            .iter()
            .filter(|winner| winner.as_deref() == Some(alice.id.as_str()))
            .count(),
        1,
        "used once: {winners:?}"
    );
    assert_eq!(
        store.use_reset_link(&[2; 32], 300).await.expect("use"),
        None
    );

    store
        .queue_reset_request("alice@example.com", 400)
        .await
        .expect("queue");
    let last = store.reset_requests(10).await.expect("requests");
    let message = OutgoingEmail {
        to: "alice@example.com".into(),
        subject: "Reset".into(),
        text: "t".into(),
        html: "h".into(),
    };
    store
        .settle_reset_request(last[0].id, &[(link(3), message)], 400)
        .await
        .expect("settle");
    assert_eq!(
        store.purge_reset_links(999).await.expect("purge"),
        0,
        "still live"
    );
    assert_eq!(
        store.purge_reset_links(1_000).await.expect("purge"),
        1,
        "expired"
    );
    assert_eq!(
        store.find_reset_link(&[3; 32], 500).await.expect("find"),
        None
    );
}

async fn sessions_and_consents(store: &dyn Store) {
    let user = user("frank");
    store.create_user(&user).await.expect("user");
    store
        .create_client(&client("app", ClientKind::Public))
        .await
        .expect("client");
    session_cases::sessions_are_paged_newest_first(store, &user.id).await;
    session_cases::sessions_round_trip(store, &user.id).await;

    assert_eq!(
        store.find_consent(&user.id, "app").await.expect("find"),
        None
    );
    store
        .save_consent(&user.id, "app", "openid", 1)
        .await
        .expect("save");
    store
        .save_consent(&user.id, "app", "openid profile", 2)
        .await
        .expect("replace");
    assert_eq!(
        store
            .find_consent(&user.id, "app")
            .await
            .expect("find")
            .as_deref(),
        Some("openid profile")
    );
    assert!(store.revoke_consent(&user.id, "app").await.expect("revoke"));
    assert!(!store.revoke_consent(&user.id, "app").await.expect("revoke"));
}

async fn codes_are_single_use(store: &dyn Store) {
    code_cases::codes_are_single_use(store).await;
    // Replayed codes are kept a day after expiry for replay detection, then purged.
    assert_eq!(store.purge_grants(60 + 86_400).await.expect("purge"), 1);
}

async fn concurrent_code_redemption_has_one_winner(store: &dyn Store) {
    code_cases::concurrent_code_redemption_has_one_winner(store).await;
}

/// Two servers rotating the same refresh token at the same moment: exactly one wins
/// (RFC 9700 §4.14.2).
async fn concurrent_rotation_has_one_winner(store: &dyn Store) {
    let first = RefreshTokenRecord {
        token_hash: vec![8; 32],
        family_id: "race".into(),
        created_at: 1,
        expires_at: 500,
    };
    store
        .create_family(&family("race", "race-sid"), &first, &access("jti-0"))
        .await
        .expect("family");
    let (a, b) = (access("jti-a"), access("jti-b"));
    let rotations = tokio::join!(
        store.rotate_refresh_token(&[8; 32], &[9; 32], 600, &a, 10),
        store.rotate_refresh_token(&[8; 32], &[10; 32], 600, &b, 10),
    );
    let rotated = [&rotations.0, &rotations.1]
        .iter()
        .filter(|outcome| matches!(outcome, Ok(RefreshOutcome::Rotated(_))))
        .count();
    assert_eq!(rotated, 1, "{rotations:?}");
}

fn family(id: &str, sid: &str) -> RefreshTokenFamily {
    RefreshTokenFamily {
        id: id.into(),
        client_id: "app".into(),
        user_id: "u".into(),
        sid: sid.into(),
        scope: "openid offline_access".into(),
        audiences: vec!["api".into()],
        auth_time: 1,
        amr: portcullis_core::AuthMethods::password(),
        created_at: 1,
        expires_at: 1_000,
        revoked_at: None,
        dpop_jkt: None,
    }
}

fn access(jti: &str) -> IssuedAccessToken {
    IssuedAccessToken {
        jti: jti.into(),
        expires_at: 900,
    }
}

fn jtis(tokens: &[IssuedAccessToken]) -> Vec<&str> {
    let mut jtis: Vec<&str> = tokens.iter().map(|token| token.jti.as_str()).collect();
    jtis.sort_unstable();
    jtis
}

/// A rotation racing a revocation of its family (reuse detected elsewhere, logout) either fails,
/// or its access token is among those the revocation returns: no token escapes revocation.
async fn a_rotation_racing_a_revocation_is_revoked_with_it(store: &dyn Store) {
    for round in 0u8..20 {
        let id = format!("racing-{round}");
        let first = RefreshTokenRecord {
            token_hash: vec![100 + round; 32],
            family_id: id.clone(),
            created_at: 1,
            expires_at: 500,
        };
        store
            .create_family(&family(&id, "racing-sid"), &first, &access("jti-first"))
            .await
            .expect("family");
        let (next, racing) = ([round; 32], access("jti-racing"));
        let (rotation, revocation) = tokio::join!(
            store.rotate_refresh_token(&first.token_hash, &next, 600, &racing, 10),
            store.revoke_family(&id, 10),
        );
        let revoked = revocation.expect("revoke").expect("family exists");
        match rotation.expect("rotate") {
            RefreshOutcome::Rotated(_) => assert_eq!(
                jtis(&revoked.access_tokens),
                ["jti-first", "jti-racing"],
                "round {round}: the racing rotation's token is revoked with its family"
            ),
            RefreshOutcome::Invalid => {
                assert_eq!(jtis(&revoked.access_tokens), ["jti-first"], "round {round}")
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

async fn refresh_rotation_detects_reuse(store: &dyn Store) {
    let first = RefreshTokenRecord {
        token_hash: vec![1; 32],
        family_id: "f1".into(),
        created_at: 1,
        expires_at: 5_000,
    };
    // Bound to a DPoP key (RFC 9449 §5.8): the binding is kept through lookups and rotations.
    let bound = RefreshTokenFamily {
        dpop_jkt: Some("jkt-of-the-client".into()),
        ..family("f1", "s1")
    };
    store
        .create_family(&bound, &first, &access("jti-1"))
        .await
        .expect("family");
    let found = store
        .find_refresh_token(&[1; 32])
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(
        found.record.expires_at, 1_000,
        "clamped to the family's end"
    );
    assert_eq!(found.family, bound);
    for (presented, next, jti, now) in [(1u8, 2u8, "jti-2", 10), (2, 3, "jti-3", 20)] {
        assert_eq!(
            store
                .rotate_refresh_token(&[presented; 32], &[next; 32], 500, &access(jti), now)
                .await
                .expect("rotate"),
            RefreshOutcome::Rotated(bound.clone())
        );
    }
    match store
        .rotate_refresh_token(&[1; 32], &[4; 32], 500, &access("jti-4"), 30)
        .await
        .expect("reuse")
    {
        RefreshOutcome::Reused(reused) => {
            assert_eq!(reused.family.revoked_at, Some(30));
            assert_eq!(
                jtis(&reused.access_tokens),
                ["jti-1", "jti-2", "jti-3"],
                "every access token of the family, not only the newest"
            );
        }
        other => panic!("expected reuse detection, got {other:?}"),
    }
    assert_eq!(
        store
            .rotate_refresh_token(&[3; 32], &[5; 32], 500, &access("jti-5"), 40)
            .await
            .expect("rotate"),
        RefreshOutcome::Invalid,
        "family revoked"
    );
    assert_eq!(
        store
            .rotate_refresh_token(&[9; 32], &[6; 32], 500, &access("jti-6"), 40)
            .await
            .expect("rotate"),
        RefreshOutcome::Invalid
    );
    let expired = RefreshTokenRecord {
        token_hash: vec![7; 32],
        family_id: "f2".into(),
        created_at: 1,
        expires_at: 50,
    };
    store
        .create_family(&family("f2", "s2"), &expired, &access("jti-f2"))
        .await
        .expect("family");
    assert_eq!(
        store
            .rotate_refresh_token(&[7; 32], &[8; 32], 500, &access("jti-7"), 60)
            .await
            .expect("rotate"),
        RefreshOutcome::Invalid,
        "expired token"
    );
    let revoked = store
        .revoke_families_of_session("s2", 70)
        .await
        .expect("revoke");
    assert_eq!(revoked.len(), 1);
    assert_eq!(jtis(&revoked[0].access_tokens), ["jti-f2"]);
    assert!(
        store
            .revoke_families_of_session("s2", 71)
            .await
            .expect("revoke")
            .is_empty()
    );
    assert!(
        store
            .revoke_family("f2", 72)
            .await
            .expect("revoke")
            .is_some_and(|revoked| revoked.family.revoked_at == Some(70))
    );
    // A user's live families, across sessions (a password change ends them all).
    for (id, sid, hash) in [("u1", "s3", 20u8), ("u2", "s4", 21)] {
        let token = RefreshTokenRecord {
            token_hash: vec![hash; 32],
            family_id: id.into(),
            created_at: 1,
            expires_at: 500,
        };
        let mut other_user = family(id, sid);
        other_user.user_id = "someone".into();
        store
            .create_family(&other_user, &token, &access(&format!("jti-{id}")))
            .await
            .expect("family");
    }
    let of_user = store
        .revoke_families_of_user("someone", 80)
        .await
        .expect("revoke");
    let mut ids: Vec<&str> = of_user
        .iter()
        .map(|revoked| revoked.family.id.as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["u1", "u2"]);
    assert!(
        store
            .revoke_families_of_user("someone", 81)
            .await
            .expect("revoke")
            .is_empty(),
        "already revoked"
    );
}

fn entry(kind: RevocationKind, value: &str, expires_at: i64) -> RevocationEntry {
    RevocationEntry {
        kind,
        value: value.into(),
        expires_at,
    }
}

async fn revocation_feed(store: &dyn Store) {
    for added in [
        entry(RevocationKind::TokenId, "jti-a", 100),
        entry(RevocationKind::Session, "sid-b", 50),
        entry(RevocationKind::Subject, "sub-c", 100),
    ] {
        store.add_revocation(&added, 1).await.expect("add");
    }
    let all = store.revocations_after(0, 10, 10).await.expect("feed");
    assert_eq!(
        all.entries
            .iter()
            .map(|e| e.value.as_str())
            .collect::<Vec<_>>(),
        ["jti-a", "sid-b", "sub-c"]
    );
    assert!(all.next > 0);
    let first = store.revocations_after(0, 1, 10).await.expect("feed");
    assert_eq!(
        first.entries,
        [entry(RevocationKind::TokenId, "jti-a", 100)]
    );
    let rest = store
        .revocations_after(first.next, 10, 10)
        .await
        .expect("feed");
    assert_eq!(
        rest.entries
            .iter()
            .map(|e| e.value.as_str())
            .collect::<Vec<_>>(),
        ["sid-b", "sub-c"],
        "resuming after a page misses nothing"
    );
    assert_eq!(rest.next, all.next);
    let caught_up = store
        .revocations_after(all.next, 10, 10)
        .await
        .expect("feed");
    assert_eq!((caught_up.entries.len(), caught_up.next), (0, all.next));
    assert_eq!(
        store
            .revocations_after(0, 10, 60)
            .await
            .expect("feed")
            .entries
            .len(),
        2,
        "expired entries leave the feed"
    );
    assert!(
        store
            .is_revoked(RevocationKind::TokenId, "jti-a", 10)
            .await
            .expect("check")
    );
    assert!(
        !store
            .is_revoked(RevocationKind::Session, "jti-a", 10)
            .await
            .expect("check")
    );
    assert!(
        !store
            .is_revoked(RevocationKind::Session, "sid-b", 60)
            .await
            .expect("check")
    );
    assert_eq!(store.purge_revocations(60).await.expect("purge"), 1);
}

async fn audit_log(store: &dyn Store) {
    use portcullis_service::AuditQuery;
    let record = |at: i64, kind: &str, subject: Option<&str>, client: Option<&str>| AuditRecord {
        id: 0,
        at,
        kind: kind.into(),
        subject: subject.map(str::to_owned),
        client_id: client.map(str::to_owned),
        detail: format!(r#"{{"event":"{kind}"}}"#),
    };
    store
        .append_audit(&[
            record(10, "sign_in", Some("alice"), None),
            record(20, "token_issued", Some("u1"), Some("app")),
        ])
        .await
        .expect("append");
    store
        .append_audit(&[record(30, "token_revoked", None, Some("app"))])
        .await
        .expect("append");
    let search = |query: AuditQuery| async move {
        let found = store
            .search_audit(&AuditQuery { limit: 10, ..query })
            .await
            .expect("search");
        found
            .iter()
            .map(|record| record.kind.clone())
            .collect::<Vec<_>>()
    };
    let recent = store
        .search_audit(&AuditQuery {
            limit: 2,
            ..AuditQuery::default()
        })
        .await
        .expect("recent");
    let kinds: Vec<&str> = recent.iter().map(|record| record.kind.as_str()).collect();
    assert_eq!(kinds, ["token_revoked", "token_issued"], "newest first");
    assert!(recent[0].id > recent[1].id);
    assert_eq!(recent[0].detail, r#"{"event":"token_revoked"}"#);
    assert_eq!(recent[1].subject.as_deref(), Some("u1"));
    assert_eq!(recent[1].client_id.as_deref(), Some("app"));
    let page_after = AuditQuery {
        before_id: Some(recent[1].id),
        ..AuditQuery::default()
    };
    assert_eq!(search(page_after).await, ["sign_in"], "the next page");
    let by_client = AuditQuery {
        client_id: Some("app".into()),
        ..AuditQuery::default()
    };
    assert_eq!(search(by_client).await, ["token_revoked", "token_issued"]);
    let by_subject_and_kind = AuditQuery {
        subject: Some("alice".into()),
        kind: Some("sign_in".into()),
        ..AuditQuery::default()
    };
    assert_eq!(search(by_subject_and_kind).await, ["sign_in"]);
    let by_time = AuditQuery {
        since: Some(20),
        until: Some(30),
        ..AuditQuery::default()
    };
    assert_eq!(search(by_time).await, ["token_issued"]);
    assert_eq!(store.purge_audit(20).await.expect("purge"), 1);
    assert_eq!(search(AuditQuery::default()).await.len(), 2);

    // A large batch (stored several rows per statement) keeps every record, in order.
    let batch: Vec<AuditRecord> = (0..75)
        .map(|n| {
            let client = format!("client_{n}");
            record(100 + n, &format!("bulk_{n}"), Some("bulk"), Some(&client))
        })
        .collect();
    store.append_audit(&batch).await.expect("append a batch");
    let stored = store
        .search_audit(&AuditQuery {
            subject: Some("bulk".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("search the batch");
    let kinds: Vec<&str> = stored
        .iter()
        .rev()
        .map(|record| record.kind.as_str())
        .collect();
    let expected: Vec<String> = (0..75).map(|n| format!("bulk_{n}")).collect();
    assert_eq!(kinds, expected, "oldest first, none lost");
    assert!(
        stored.iter().all(
            |record| record.at == 100 + record.kind[5..].parse::<i64>().expect("n")
                && record.client_id.as_deref() == Some(&*format!("client_{}", &record.kind[5..]))
                && record.detail == format!(r#"{{"event":"{}"}}"#, record.kind)
        ),
        "each row's columns in their place"
    );
}

/// Every case, for one backend: `$open` is an async fn returning `Option<(guard, store)>`
/// (`None` skips: no server configured outside CI); the guard removes the test's data on drop.
macro_rules! cases {
    ($open:path) => {
        cases!(
            $open;
            users_round_trip_with_case_insensitive_names,
            users_update_and_delete,
            users_are_searched_and_paged_by_username,
            clients_round_trip,
            clients_are_searched_and_paged_by_id,
            client_secret_rotation_and_delete,
            clients_are_updated_in_place,
            deleted_and_stale_document_clients_leave_no_grants,
            keyed_confidential_clients_have_no_secret,
            signing_keys_round_trip,
            roles_are_upserted_and_deleted,
            the_outbox_keeps_messages_until_removed,
            logout_notices_are_queued_for_clients_with_a_uri,
            concurrent_claims_take_each_message_once,
            reset_links_are_single_use_superseded_and_expire,
            registrations_wait_for_their_address_and_reserve_only_the_name,
            invitations_are_single_use_and_expire,
            verification_links_verify_once_and_change_the_address,
            sessions_and_consents,
            codes_are_single_use,
            refresh_rotation_detects_reuse,
            revocation_feed,
            concurrent_code_redemption_has_one_winner,
            concurrent_rotation_has_one_winner,
            a_rotation_racing_a_revocation_is_revoked_with_it,
            audit_log,
            an_app_is_added_once_and_each_step_is_used_once,
            recovery_codes_are_single_use_and_reset_with_the_app,
            passkeys_belong_to_one_user_and_record_their_use,
            personal_access_tokens_belong_to_their_owner_and_go_with_it,
            upstream_identities_link_once_and_go_with_their_account,
            providers_are_stored_without_their_secret_in_the_clear,
            pushed_requests_serve_their_client_until_answered_or_expired,
            device_grants_are_decided_once_and_ended_once,
        );
    };
    ($open:path; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let Some((_guard, store)) = $open().await else {
                return;
            };
            super::$case(&store).await;
        }
    )*};
}

mod on_sqlite {
    use portcullis_service::UserStore;

    async fn open() -> Option<(tempfile::TempDir, portcullis_store::SqlStore)> {
        Some(super::sqlite().await)
    }

    cases!(open);

    #[tokio::test]
    async fn data_survives_reopening() {
        let (dir, store) = super::sqlite().await;
        store
            .create_user(&super::user("dora"))
            .await
            .expect("create");
        store.close().await;
        let reopened = portcullis_store::SqlStore::open_sqlite(&dir.path().join("portcullis.db"))
            .await
            .expect("reopen");
        assert!(
            reopened
                .find_user_by_username("dora")
                .await
                .expect("find")
                .is_some()
        );
    }
}

mod on_postgres {
    use portcullis_store::{PoolSettings, SqlStore};
    use portcullis_testkit::services::TestDatabase;

    async fn open() -> Option<(TestDatabase, SqlStore)> {
        let database = TestDatabase::create().await?;
        let store = SqlStore::connect_postgres(database.url(), PoolSettings::default())
            .await
            .expect("connect");
        Some((database, store))
    }

    cases!(open);

    /// Several servers starting at once over an empty database: the advisory lock lets one
    /// migrate and the others find the schema ready.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_startups_migrate_once() {
        let Some(database) = TestDatabase::create().await else {
            return;
        };
        let opened = start_concurrently(database.url()).await;
        assert!(opened.iter().all(Result::is_ok), "{opened:?}");
    }

    async fn start_concurrently(url: &str) -> Vec<Result<(), String>> {
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let url = url.to_owned();
                tokio::spawn(async move {
                    let store = SqlStore::connect_postgres(&url, PoolSettings::default())
                        .await
                        .map_err(|error| error.to_string())?;
                    store.close().await;
                    Ok(())
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        results
    }

    /// Two auth servers revoke at the same moment, and the one that took the earlier cursor
    /// commits later. The feed must not serve the later entry while the earlier is in flight, or
    /// a gateway resuming after it would never see the earlier one (a revoked token accepted at a
    /// gateway without Redis). The slow server is a transaction of the test's own, paused between
    /// its insert and its commit, doing what `add_revocation` does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_committed_late_is_never_skipped() {
        use portcullis_core::{RevocationEntry, RevocationKind};
        use portcullis_service::RevocationStore;
        use sqlx::Connection;
        let Some((database, store)) = open().await else {
            return;
        };
        let mut slow = sqlx::PgConnection::connect(database.url())
            .await
            .expect("connect");
        let mut slow_writer = slow.begin().await.expect("begin");
        for statement in [
            "UPDATE revocation_writer SET last_write = 1 WHERE id = 1",
            "INSERT INTO revocations (kind, value, expires_at, revoked_at) VALUES ('jti', 'slow', 100, 1)",
        ] {
            sqlx::query(statement)
                .execute(&mut *slow_writer)
                .await
                .expect("slow writer");
        }
        let fast_store = store.clone();
        let fast = tokio::spawn(async move {
            let entry = RevocationEntry {
                kind: RevocationKind::TokenId,
                value: "fast".into(),
                expires_at: 100,
            };
            fast_store.add_revocation(&entry, 1).await
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let while_in_flight = store.revocations_after(0, 10, 10).await.expect("feed");
        assert!(
            while_in_flight.entries.is_empty(),
            "nothing is served past the entry still in flight: {while_in_flight:?}"
        );
        slow_writer.commit().await.expect("commit");
        fast.await.expect("task").expect("fast writer");
        let after_commit = store
            .revocations_after(while_in_flight.next, 10, 10)
            .await
            .expect("feed");
        let values: Vec<&str> = after_commit
            .entries
            .iter()
            .map(|entry| entry.value.as_str())
            .collect();
        assert_eq!(values, ["slow", "fast"], "both, in commit order");
        let _ = slow.close().await;
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_not_a_panic() {
        let settings = PoolSettings {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_millis(500),
        };
        let error = SqlStore::connect_postgres("postgres://postgres@127.0.0.1:1/test", settings)
            .await
            .expect_err("nothing listens on port 1");
        assert!(
            matches!(error, portcullis_service::StoreError::Unavailable(_)),
            "{error:?}"
        );
    }
}
