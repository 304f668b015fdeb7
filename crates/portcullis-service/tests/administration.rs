//! The administration use cases over a real (temporary SQLite) store: validation errors name the
//! field, changes that take access away revoke at once, and every change is audited with its
//! actor.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{
    ClientKind, ClientRegistration, Clock, RevocationKind, Session, SystemClock,
};
use portcullis_service::admin::{InitialPassword, UserDraft};
use portcullis_service::{
    AdminError, AuditStore, ClientStore, RevocationStore, SessionStore, UserStore,
};
use portcullis_types::GrantType;

mod support;

use support::Fixture;

const PASSWORD: &str = "correct horse battery staple";

async fn alice(fixture: &Fixture) -> portcullis_core::User {
    fixture
        .admin()
        .create_user(draft("alice", "alice@example.com", PASSWORD))
        .await
        .expect("create alice")
}

/// The admin actions in the audit log, oldest first, as (actor, action, target).
async fn admin_actions(fixture: &Fixture) -> Vec<(String, String, String)> {
    fixture.audit.flush().await;
    let mut records = fixture
        .store
        .search_audit(&portcullis_service::AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    records.reverse();
    records
        .into_iter()
        .filter(|record| record.kind == "admin_action")
        .map(|record| {
            let detail: serde_json::Value =
                serde_json::from_str(&record.detail).expect("JSON detail");
            let field = |name: &str| detail[name].as_str().expect("string").to_owned();
            (field("actor"), field("action"), field("target"))
        })
        .collect()
}

fn draft(username: &str, email: &str, password: &str) -> UserDraft {
    UserDraft {
        username: username.into(),
        roles: vec!["user".into()],
        email: Some(email.into()),
        password: InitialPassword::Plain(password.into()),
    }
}

fn invalid_field(result: Result<impl std::fmt::Debug, AdminError>) -> &'static str {
    match result {
        Err(AdminError::Invalid { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn creating_a_user_validates_each_field_and_refuses_duplicates() {
    let fixture = Fixture::new("tester").await;
    let admin = fixture.admin();
    let alice = alice(&fixture).await;
    assert!(
        fixture
            .hasher
            .verify(PASSWORD, &alice.password_hash)
            .expect("verify")
    );
    assert_eq!(
        invalid_field(
            admin
                .create_user(draft("no spaces", "a@example.com", PASSWORD))
                .await
        ),
        "username"
    );
    assert_eq!(
        invalid_field(
            admin
                .create_user(draft("bob", "not-an-email", PASSWORD))
                .await
        ),
        "email"
    );
    assert_eq!(
        invalid_field(
            admin
                .create_user(draft("bob", "bob@example.com", "short"))
                .await
        ),
        "password"
    );
    let mut bad_role = draft("bob", "bob@example.com", PASSWORD);
    bad_role.roles = vec!["Not A Role".into()];
    assert_eq!(invalid_field(admin.create_user(bad_role).await), "roles");
    match admin
        .create_user(draft("ALICE", "other@example.com", PASSWORD))
        .await
    {
        Err(AdminError::Conflict(what)) => assert_eq!(what, "user `ALICE`"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(fixture.store.list_users().await.expect("list").len(), 1);
}

#[tokio::test]
async fn disabling_or_deleting_a_user_revokes_their_tokens_and_is_audited() {
    let fixture = Fixture::new("tester").await;
    let admin = fixture.admin();
    let alice = alice(&fixture).await;
    let now = SystemClock.now();
    assert!(
        !fixture
            .store
            .is_revoked(RevocationKind::Subject, &alice.id, now)
            .await
            .expect("lookup")
    );
    admin.disable_user("Alice").await.expect("disable");
    assert!(
        fixture
            .store
            .is_revoked(RevocationKind::Subject, &alice.id, now)
            .await
            .expect("lookup")
    );
    let stored = fixture
        .store
        .find_user_by_id(&alice.id)
        .await
        .expect("find");
    assert!(stored.expect("still there").disabled_at.is_some());
    admin.enable_user("alice").await.expect("enable");
    admin.delete_user("alice").await.expect("delete");
    assert!(matches!(
        admin.delete_user("alice").await,
        Err(AdminError::NotFound { kind: "user", .. })
    ));
    let actions = admin_actions(&fixture).await;
    let expected = [
        ("user.create", "alice"),
        ("user.disable", "alice"),
        ("user.enable", "alice"),
        ("user.delete", "alice"),
    ];
    assert_eq!(actions.len(), expected.len(), "{actions:?}");
    for ((actor, action, target), (want_action, want_target)) in actions.iter().zip(expected) {
        assert_eq!(actor, "cli:tester");
        assert_eq!(
            (action.as_str(), target.as_str()),
            (want_action, want_target)
        );
    }
}

#[tokio::test]
async fn a_new_password_ends_every_session_of_the_user() {
    let fixture = Fixture::new("tester").await;
    let admin = fixture.admin();
    let alice = alice(&fixture).await;
    let now = SystemClock.now();
    for (index, sid) in ["s1", "s2"].into_iter().enumerate() {
        fixture
            .store
            .create_session(&Session {
                secret_hash: vec![u8::try_from(index).expect("small"); 32],
                sid: sid.into(),
                user_id: alice.id.clone(),
                auth_time: now,
                amr: portcullis_core::AuthMethods::password(),
                identity_provider: None,
                created_at: now,
                last_seen_at: now,
                expires_at: now + 3600,
            })
            .await
            .expect("session");
    }
    assert_eq!(
        invalid_field(admin.set_password("alice", "short".into()).await),
        "password"
    );
    let ended = admin
        .set_password("alice", "a different long passphrase".into())
        .await
        .expect("set password");
    assert_eq!(ended, 2);
    assert!(
        fixture
            .store
            .list_sessions_of_user(&alice.id)
            .await
            .expect("sessions")
            .is_empty()
    );
    let stored = fixture.admin().user("alice").await.expect("alice");
    assert!(
        fixture
            .hasher
            .verify("a different long passphrase", &stored.password_hash)
            .expect("verify")
    );
    assert!(matches!(
        admin.revoke_session("s1").await,
        Err(AdminError::NotFound {
            kind: "session",
            ..
        })
    ));
}

fn service(kind: ClientKind) -> ClientRegistration {
    ClientRegistration {
        id: "service".into(),
        kind,
        grant_types: vec![if kind == ClientKind::Public {
            GrantType::AuthorizationCode
        } else {
            GrantType::ClientCredentials
        }],
        redirect_uris: if kind == ClientKind::Public {
            vec!["https://app.example/cb".into()]
        } else {
            vec![]
        },
        scopes: vec!["api:read".into()],
        audiences: vec![],
        access_token_lifetime_secs: None,
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
}

#[tokio::test]
async fn client_secrets_are_shown_once_and_rotation_replaces_them() {
    let fixture = Fixture::new("tester").await;
    let admin = fixture.admin();
    let created = admin
        .create_client(service(ClientKind::Confidential))
        .await
        .expect("create");
    let first = created.secret.expect("a confidential client gets a secret");
    let rotated = admin.rotate_client_secret("service").await.expect("rotate");
    let stored = fixture
        .store
        .find_client("service")
        .await
        .expect("find")
        .expect("client");
    assert!(
        !stored.secret_is_valid(Some(&first)),
        "the old secret stops working"
    );
    assert!(stored.secret_is_valid(Some(&rotated.secret)));
    assert!(matches!(
        admin.create_client(service(ClientKind::Confidential)).await,
        Err(AdminError::Conflict(_))
    ));
    let mut bad_lifetime = service(ClientKind::Confidential);
    bad_lifetime.id = "other".into();
    bad_lifetime.access_token_lifetime_secs = Some(7200);
    assert_eq!(
        invalid_field(admin.create_client(bad_lifetime).await),
        "access_token_lifetime_secs"
    );
    admin.delete_client("service").await.expect("delete");
    let public = admin
        .create_client(service(ClientKind::Public))
        .await
        .expect("public client");
    assert!(public.secret.is_none());
    assert_eq!(
        invalid_field(admin.rotate_client_secret("service").await),
        "id"
    );
    assert!(matches!(
        admin.delete_client("nobody").await,
        Err(AdminError::NotFound { kind: "client", .. })
    ));
}

#[tokio::test]
async fn the_audit_log_pages_without_an_empty_last_page() {
    let fixture = Fixture::new("pager").await;
    let admin = fixture.admin();
    for name in ["a", "b", "c", "d"] {
        let role = portcullis_core::Role::new(name, vec![], None).expect("role");
        admin.put_role(&role).await.expect("put role");
    }
    fixture.audit.flush().await;
    let query = |before_id, limit| portcullis_service::AuditQuery {
        kind: Some("admin_action".into()),
        before_id,
        limit,
        ..portcullis_service::AuditQuery::default()
    };
    let whole = admin.audit_page(query(None, 4)).await.expect("page");
    assert_eq!(whole.records.len(), 4);
    assert_eq!(whole.next, None, "exactly a page: no link to an empty one");
    let first = admin.audit_page(query(None, 3)).await.expect("page");
    assert_eq!(first.records.len(), 3);
    let next = first.next.expect("a fourth event follows");
    assert_eq!(Some(next), first.records.last().map(|record| record.id));
    let rest = admin.audit_page(query(Some(next), 3)).await.expect("page");
    assert_eq!((rest.records.len(), rest.next), (1, None));
    assert!(
        rest.records[0].detail.contains(r#""target":"a""#),
        "oldest last"
    );
}
