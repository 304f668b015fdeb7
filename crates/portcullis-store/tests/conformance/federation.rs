//! Upstream identities: one link per provider and subject and per provider and account, an
//! account created with its link in one transaction (both or neither), links gone with their
//! account.

use super::user;
use portcullis_core::federation::FederatedIdentity;
use portcullis_service::{IDENTITY_LINKED, Store, StoreError};

fn identity(provider: &str, subject: &str, user_id: &str, at: i64) -> FederatedIdentity {
    FederatedIdentity {
        provider: provider.into(),
        subject: subject.into(),
        user_id: user_id.into(),
        email: Some(format!("{subject}@upstream.example")),
        linked_at: at,
    }
}

pub async fn upstream_identities_link_once_and_go_with_their_account(store: &dyn Store) {
    let owner = user("fed-owner");
    store.create_user(&owner).await.expect("user");
    let corp = identity("corp", "c-1", &owner.id, 10);
    store.link_federated_identity(&corp).await.expect("link");
    assert_eq!(
        store
            .find_federated_identity("corp", "c-1")
            .await
            .expect("find"),
        Some(corp.clone())
    );
    assert_eq!(
        store
            .find_federated_identity("other", "c-1")
            .await
            .expect("find"),
        None,
        "a subject is unique only within its provider"
    );
    // The same identity again, or a second link of the account to the same provider.
    for taken in [
        identity("corp", "c-1", &owner.id, 11),
        identity("corp", "c-2", &owner.id, 11),
    ] {
        match store.link_federated_identity(&taken).await {
            Err(StoreError::Conflict(what)) => assert_eq!(what, IDENTITY_LINKED),
            other => panic!("linked twice: {other:?}"),
        }
    }
    let hub = identity("hub", "42", &owner.id, 20);
    store.link_federated_identity(&hub).await.expect("link");
    assert_eq!(
        store
            .federated_identities_of(&owner.id)
            .await
            .expect("list"),
        [corp.clone(), hub.clone()],
        "oldest first"
    );

    // A new account with its link: both, or (a taken identity) neither.
    let newcomer = user("fed-newcomer");
    let newcomer_link = identity("corp", "c-9", &newcomer.id, 30);
    store
        .create_federated_user(&newcomer, &newcomer_link)
        .await
        .expect("create");
    assert_eq!(
        store
            .find_federated_identity("corp", "c-9")
            .await
            .expect("find")
            .map(|found| found.user_id),
        Some(newcomer.id.clone())
    );
    let squatter = user("fed-squatter");
    assert!(matches!(
        store
            .create_federated_user(&squatter, &identity("corp", "c-1", &squatter.id, 40))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .find_user_by_username("fed-squatter")
            .await
            .expect("find"),
        None,
        "no account without its link"
    );
    assert!(matches!(
        store
            .create_federated_user(&user("fed-newcomer"), &identity("corp", "c-10", "x", 40))
            .await,
        Err(StoreError::Conflict(_))
    ));

    assert!(
        store
            .unlink_federated_identity(&owner.id, "hub")
            .await
            .expect("unlink")
    );
    assert!(
        !store
            .unlink_federated_identity(&owner.id, "hub")
            .await
            .expect("unlink")
    );
    assert_eq!(
        store
            .count_federated_identities("corp")
            .await
            .expect("count"),
        2
    );
    assert_eq!(
        store
            .count_federated_identities("nobody")
            .await
            .expect("count"),
        0
    );
    assert!(store.delete_user("fed-owner").await.expect("delete"));
    assert_eq!(
        store
            .find_federated_identity("corp", "c-1")
            .await
            .expect("find"),
        None,
        "links go with their account"
    );
    assert_eq!(
        store
            .delete_federated_identities("corp")
            .await
            .expect("delete"),
        1
    );
    assert_eq!(
        store
            .count_federated_identities("corp")
            .await
            .expect("count"),
        0
    );
}

pub async fn providers_are_stored_without_their_secret_in_the_clear(store: &dyn Store) {
    use portcullis_core::federation::ProviderSpec;
    use portcullis_service::StoredProvider;
    let spec: ProviderSpec = serde_json::from_value(serde_json::json!({
        "id": "corp", "name": "Corp", "issuer": "https://sso.corp.example",
        "client_id": "portcullis", "client_secret": "never-stored-in-the-clear",
    }))
    .expect("spec");
    let stored = StoredProvider {
        spec: spec.clone(),
        sealed_secret: Some(vec![1, 2, 3]),
        updated_at: 10,
    };
    store.put_federation_provider(&stored).await.expect("put");
    let listed = store.list_federation_providers().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].spec.client_secret, None,
        "only the sealed secret is kept"
    );
    assert_eq!(listed[0].sealed_secret.as_deref(), Some(&[1u8, 2, 3][..]));
    // Replaced in place.
    let renamed = StoredProvider {
        spec: ProviderSpec {
            name: "Corp SSO".into(),
            ..spec
        },
        sealed_secret: None,
        updated_at: 20,
    };
    store.put_federation_provider(&renamed).await.expect("put");
    let listed = store.list_federation_providers().await.expect("list");
    assert_eq!(
        (
            listed.len(),
            listed[0].spec.name.as_str(),
            listed[0].updated_at
        ),
        (1, "Corp SSO", 20)
    );
    assert!(
        store
            .delete_federation_provider("corp")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_federation_provider("corp")
            .await
            .expect("delete")
    );
    assert!(
        store
            .list_federation_providers()
            .await
            .expect("list")
            .is_empty()
    );
}
