//! The store conformance suite: behaviour every backend must show, run here against SQLite.
//! Each case takes `&dyn Store`, so a new backend adds one line per case.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use portcullis_core::{
    Client, ClientKind, ClientRegistration, KeyMetadata, NewUser, SecretHash, SigningKeyRecord,
    User, Username,
};
use portcullis_jose::Algorithm;
use portcullis_store::{SqliteStore, Store, StoreError};
use portcullis_types::GrantType;
use tempfile::TempDir;

async fn sqlite() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("portcullis.db"))
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

macro_rules! sqlite_cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let (_dir, store) = super::sqlite().await;
            super::$case(&store).await;
        }
    )*};
}

mod on_sqlite {
    use portcullis_store::UserStore;

    sqlite_cases!(
        users_round_trip_with_case_insensitive_names,
        users_update_and_delete,
        clients_round_trip,
        client_secret_rotation_and_delete,
        signing_keys_round_trip,
    );

    #[tokio::test]
    async fn data_survives_reopening() {
        let (dir, store) = super::sqlite().await;
        store
            .create_user(&super::user("dora"))
            .await
            .expect("create");
        store.close().await;
        let reopened = portcullis_store::SqliteStore::open(&dir.path().join("portcullis.db"))
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
