//! Declarative apply over a real (temporary SQLite) store: the plan names every difference,
//! dry runs change nothing, a second apply changes nothing, pruning is opt-in, secrets are
//! applied but never part of the plan's text.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{ClientKind, ClientRegistration, Role};
use portcullis_service::admin::{
    Change, DesiredClient, DesiredState, DesiredUser, InitialPassword, UserDraft,
};
use portcullis_service::{AdminError, ClientStore, RoleStore, UserStore};
use portcullis_types::GrantType;

mod support;

use support::Fixture;

const PASSWORD: &str = "correct horse battery staple";

fn service(id: &str, scopes: &[&str], secret: Option<&str>) -> DesiredClient {
    DesiredClient {
        registration: ClientRegistration {
            id: id.into(),
            kind: ClientKind::Confidential,
            grant_types: vec![GrantType::ClientCredentials],
            redirect_uris: vec![],
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
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
        },
        secret: secret.map(str::to_owned),
    }
}

fn user(name: &str, roles: &[&str], password: InitialPassword) -> DesiredUser {
    DesiredUser {
        username: name.into(),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        email: Some(format!("{name}@example.com")),
        email_verified: None,
        password,
    }
}

fn lines(changes: &[Change]) -> Vec<String> {
    changes.iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn apply_creates_then_changes_nothing_the_second_time() {
    let fixture = Fixture::new("apply-test").await;
    let admin = fixture.admin();
    let desired = DesiredState {
        roles: vec![],
        clients: vec![
            service(
                "billing",
                &["read"],
                Some("billing-secret-from-the-environment"),
            ),
            service("reports", &["read"], None),
        ],
        users: vec![
            DesiredUser {
                email_verified: Some(true),
                ..user("alice", &["admin"], InitialPassword::Plain(PASSWORD.into()))
            },
            user("bob", &["user"], InitialPassword::Unusable),
        ],
    };
    let plan = admin.plan(&desired, false).await.expect("plan");
    assert_eq!(
        lines(&plan.changes),
        [
            "+ client billing",
            "+ client reports (new secret, shown once)",
            "+ user alice",
            "+ user bob"
        ]
    );
    assert!(
        fixture.store.list_clients().await.expect("list").is_empty(),
        "a plan changes nothing"
    );
    let (_, applied) = admin.apply(&desired, false).await.expect("apply");
    assert_eq!(applied.generated_secrets.len(), 1);
    assert_eq!(applied.generated_secrets[0].0, "reports");
    let billing = fixture
        .store
        .find_client("billing")
        .await
        .expect("find")
        .expect("billing");
    assert!(billing.secret_is_valid(Some("billing-secret-from-the-environment")));
    let alice = fixture
        .store
        .find_user_by_username("alice")
        .await
        .expect("find")
        .expect("alice");
    assert!(
        fixture
            .hasher
            .verify(PASSWORD, &alice.password_hash)
            .expect("verify")
    );
    assert!(
        alice.email_verified(),
        "the file vouches for alice's address"
    );
    let bob = fixture
        .store
        .find_user_by_username("bob")
        .await
        .expect("find")
        .expect("bob");
    assert!(
        !fixture
            .hasher
            .verify("", &bob.password_hash)
            .unwrap_or(false)
    );

    assert!(!bob.email_verified(), "nothing vouches for bob's");

    let (again, applied) = admin.apply(&desired, false).await.expect("apply again");
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert!(applied.generated_secrets.is_empty());

    let mut withdrawn = desired.clone();
    withdrawn.users[0].email_verified = Some(false);
    let (plan, _) = admin.apply(&withdrawn, false).await.expect("withdraw");
    assert_eq!(lines(&plan.changes), ["~ user alice: email_verified"]);
    let alice = fixture
        .store
        .find_user_by_username("alice")
        .await
        .expect("find");
    assert!(!alice.expect("alice").email_verified());
}

#[tokio::test]
async fn differences_are_updated_and_pruning_is_opt_in() {
    let fixture = Fixture::new("apply-test").await;
    let admin = fixture.admin();
    let first = DesiredState {
        roles: vec![],
        clients: vec![service(
            "billing",
            &["read"],
            Some("first-secret-of-billing"),
        )],
        users: vec![user(
            "alice",
            &["admin"],
            InitialPassword::Plain(PASSWORD.into()),
        )],
    };
    admin.apply(&first, false).await.expect("apply");
    admin
        .create_user(UserDraft {
            username: "mallory".into(),
            roles: vec![],
            email: None,
            password: InitialPassword::Plain(PASSWORD.into()),
        })
        .await
        .expect("someone created outside the file");
    let second = DesiredState {
        roles: vec![],
        clients: vec![service(
            "billing",
            &["read", "write"],
            Some("second-secret-of-billing"),
        )],
        users: vec![DesiredUser {
            email: None,
            ..user(
                "ALICE",
                &["admin", "user"],
                InitialPassword::Plain("a new long passphrase".into()),
            )
        }],
    };
    let plan = admin.plan(&second, false).await.expect("plan");
    assert_eq!(
        lines(&plan.changes),
        [
            "~ client billing: scopes",
            "~ client billing: secret",
            "~ user ALICE: roles, email",
            "~ user ALICE: password"
        ]
    );
    assert!(
        !lines(&plan.changes).concat().contains("second-secret"),
        "secrets are never in the plan"
    );
    admin.apply(&second, false).await.expect("apply");
    let billing = fixture
        .store
        .find_client("billing")
        .await
        .expect("find")
        .expect("billing");
    assert!(billing.scopes.contains("write"));
    assert!(billing.secret_is_valid(Some("second-secret-of-billing")));
    assert!(!billing.secret_is_valid(Some("first-secret-of-billing")));
    assert!(
        fixture
            .store
            .find_user_by_username("mallory")
            .await
            .expect("find")
            .is_some(),
        "not deleted without pruning"
    );
    // A client that registered itself (RFC 7591) is not the file's to list, nor to prune.
    let self_registered = portcullis_core::Client {
        id: "dyn-agent".into(),
        registration_token_hash: Some(portcullis_core::SecretHash::of("registration token")),
        ..billing.clone()
    };
    fixture
        .store
        .create_client(&self_registered)
        .await
        .expect("create");
    let pruned = admin.plan(&second, true).await.expect("plan");
    assert_eq!(lines(&pruned.changes), ["- user mallory"]);
    admin.apply(&second, true).await.expect("prune");
    assert!(
        fixture
            .store
            .find_user_by_username("mallory")
            .await
            .expect("find")
            .is_none()
    );
    assert!(
        admin
            .plan(&second, true)
            .await
            .expect("plan")
            .changes
            .is_empty()
    );
}

#[tokio::test]
async fn invalid_desired_states_are_refused_before_any_change() {
    let fixture = Fixture::new("apply-test").await;
    let admin = fixture.admin();
    fn field<T: std::fmt::Debug>(result: Result<T, AdminError>) -> &'static str {
        match result {
            Err(AdminError::Invalid { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }
    let twice = DesiredState {
        roles: vec![],
        clients: vec![service("a", &["read"], None), service("a", &["read"], None)],
        users: vec![],
    };
    assert_eq!(field(admin.apply(&twice, false).await), "clients");
    let users_twice = DesiredState {
        roles: vec![],
        clients: vec![],
        users: vec![
            user("alice", &[], InitialPassword::Unusable),
            user("Alice", &[], InitialPassword::Unusable),
        ],
    };
    assert_eq!(field(admin.apply(&users_twice, false).await), "users");
    let bad_hash = DesiredState {
        roles: vec![],
        clients: vec![],
        users: vec![user("carol", &[], InitialPassword::Hash("md5:abc".into()))],
    };
    assert_eq!(field(admin.apply(&bad_hash, false).await), "password_hash");
    let mut public = service("app", &["read"], None);
    public.registration.kind = ClientKind::Public;
    public.registration.grant_types = vec![GrantType::AuthorizationCode];
    public.registration.redirect_uris = vec!["https://app.example/cb".into()];
    admin
        .apply(
            &DesiredState {
                roles: vec![],
                clients: vec![public.clone()],
                users: vec![],
            },
            false,
        )
        .await
        .expect("public client");
    let retyped = DesiredState {
        roles: vec![],
        clients: vec![service("app", &["read"], None)],
        users: vec![],
    };
    assert_eq!(field(admin.plan(&retyped, false).await), "kind");
    let with_secret = DesiredState {
        roles: vec![],
        clients: vec![DesiredClient {
            secret: Some("s".into()),
            ..public
        }],
        users: vec![],
    };
    assert_eq!(field(admin.plan(&with_secret, false).await), "secret");
    assert!(
        fixture.store.list_users().await.expect("users").is_empty(),
        "nothing of a refused apply is applied"
    );
}

fn role(name: &str, scopes: &[&str]) -> Role {
    Role::new(
        name,
        scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        None,
    )
    .expect("role")
}

#[tokio::test]
async fn roles_are_created_updated_and_pruned() {
    let fixture = Fixture::new("apply-test").await;
    let admin = fixture.admin();
    let first = DesiredState {
        roles: vec![
            role("admin", &["portcullis:admin"]),
            role("user", &["products:read"]),
        ],
        ..DesiredState::default()
    };
    let plan = admin.apply(&first, false).await.expect("apply").0;
    assert_eq!(lines(&plan.changes), ["+ role admin", "+ role user"]);
    assert_eq!(
        fixture.store.list_roles().await.expect("roles"),
        first.roles
    );
    let second = DesiredState {
        roles: vec![Role {
            description: Some("operators".into()),
            ..role("admin", &["portcullis:admin", "products:write"])
        }],
        ..DesiredState::default()
    };
    assert_eq!(
        lines(&admin.apply(&second, false).await.expect("apply").0.changes),
        ["~ role admin: scopes, description"],
        "a role missing from the file stays without --prune"
    );
    assert_eq!(fixture.store.list_roles().await.expect("roles").len(), 2);
    assert_eq!(
        lines(&admin.apply(&second, true).await.expect("prune").0.changes),
        ["- role user"]
    );
    assert_eq!(
        fixture.store.list_roles().await.expect("roles"),
        second.roles
    );
    assert!(
        admin
            .plan(&second, true)
            .await
            .expect("plan")
            .changes
            .is_empty(),
        "applying twice changes nothing"
    );
    let twice = DesiredState {
        roles: vec![role("x", &[]), role("x", &["a"])],
        ..DesiredState::default()
    };
    assert!(matches!(
        admin.plan(&twice, false).await,
        Err(AdminError::Invalid { field: "roles", .. })
    ));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let client = service("billing", &["read"], Some("the-client-secret"));
    let user = user("alice", &[], InitialPassword::Plain("the-password".into()));
    let hashed = InitialPassword::Hash("$argon2id$the-hash".into());
    let printed = format!("{client:?} {user:?} {hashed:?}");
    for secret in ["the-client-secret", "the-password", "the-hash"] {
        assert!(!printed.contains(secret), "{printed}");
    }
    assert!(printed.contains("billing") && printed.contains("alice"));
    let request = portcullis_service::TokenRequest::RefreshToken {
        refresh_token: "the-refresh-token",
        scope: None,
    };
    assert_eq!(format!("{request:?}"), "TokenRequest(refresh_token)");
}

#[tokio::test]
async fn built_in_clients_are_out_of_reach_of_administrators() {
    let fixture = Fixture::new("apply-test").await;
    let admin = fixture.admin();
    let mut console = service(
        "portcullis-console",
        &["read"],
        Some("built-in-secret-value"),
    );
    admin
        .ensure_built_in_client(console.registration.clone(), console.secret.clone())
        .await
        .expect("registered by Portcullis itself");
    fn field<T: std::fmt::Debug>(result: Result<T, AdminError>) -> &'static str {
        match result {
            Err(AdminError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(field(admin.delete_client("portcullis-console").await), "id");
    assert_eq!(
        field(admin.rotate_client_secret("portcullis-console").await),
        "id"
    );
    assert_eq!(
        field(admin.update_client(console.registration.clone()).await),
        "id"
    );
    console.secret = None;
    let desired = DesiredState {
        roles: vec![],
        clients: vec![console],
        users: vec![],
    };
    assert_eq!(field(admin.plan(&desired, false).await), "clients");
    assert!(
        admin
            .plan(&DesiredState::default(), true)
            .await
            .expect("plan")
            .changes
            .is_empty(),
        "never pruned"
    );
    let stored = fixture
        .store
        .find_client("portcullis-console")
        .await
        .expect("find")
        .expect("still there");
    assert!(stored.secret_is_valid(Some("built-in-secret-value")));
}

#[tokio::test]
async fn pruning_never_deletes_the_account_of_the_admin_applying() {
    let fixture = Fixture::new("apply-test").await;
    let alice = fixture
        .admin()
        .create_user(UserDraft {
            username: "alice".into(),
            roles: vec!["admin".into()],
            email: None,
            password: InitialPassword::Unusable,
        })
        .await
        .expect("alice");
    let as_alice = portcullis_service::Actor::token(&alice.id, "portcullis-console");
    let admin = portcullis_service::Administration {
        actor: &as_alice,
        ..fixture.admin()
    };
    let without_alice = DesiredState::default();
    match admin.plan(&without_alice, true).await {
        Err(AdminError::Invalid {
            field: "users",
            message,
        }) => {
            assert!(message.contains("your own account `alice`"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(
        admin
            .plan(&without_alice, false)
            .await
            .expect("plan")
            .changes
            .is_empty(),
        "without --prune nothing is deleted anyway"
    );
    assert_eq!(
        lines(
            &fixture
                .admin()
                .plan(&without_alice, true)
                .await
                .expect("plan")
                .changes
        ),
        ["- user alice"],
        "another actor may prune it"
    );
}
