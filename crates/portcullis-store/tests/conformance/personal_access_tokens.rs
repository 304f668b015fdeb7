//! Personal access tokens: found by hash only, listed and deleted by their owner only, gone with
//! their owner, purged after expiry.

use super::{client, user};
use portcullis_core::ClientKind;
use portcullis_core::personal_access_token::{TokenOwner, TokenRequest};
use portcullis_core::{ScopeSet, SecretHash};
use portcullis_service::Store;

fn request(name: &str, days: i64) -> TokenRequest {
    TokenRequest {
        name: name.into(),
        scope: ScopeSet::parse("read write").expect("scope"),
        lifetime_days: days,
        networks: vec!["10.0.0.0/8".into(), "2001:db8::/32".into()],
    }
}

pub async fn personal_access_tokens_belong_to_their_owner_and_go_with_it(store: &dyn Store) {
    let owner = user("pat-owner");
    let other = user("pat-other");
    store.create_user(&owner).await.expect("user");
    store.create_user(&other).await.expect("user");
    let service = client("pat-service", ClientKind::Confidential);
    store.create_client(&service).await.expect("client");
    let mine = TokenOwner::User(owner.id.clone());
    let theirs = TokenOwner::User(other.id.clone());
    let (first, first_token) = request("laptop", 30)
        .issue(mine.clone(), 100)
        .expect("issue");
    let (second, _) = request("ci", 1).issue(mine.clone(), 200).expect("issue");
    let (keyed, keyed_token) = request("deploy key", 7)
        .issue(TokenOwner::Client(service.id.clone()), 300)
        .expect("issue");
    for token in [&first, &second, &keyed] {
        store.add_personal_access_token(token).await.expect("add");
    }

    let found = store
        .find_personal_access_token(&SecretHash::of(&first_token))
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found, first, "round trip, networks and scope included");
    assert!(
        store
            .find_personal_access_token(&SecretHash::of("pcl_pat_unknown"))
            .await
            .expect("find")
            .is_none()
    );
    let listed: Vec<String> = store
        .personal_access_tokens_of(&mine)
        .await
        .expect("list")
        .into_iter()
        .map(|token| token.id)
        .collect();
    assert_eq!(
        listed,
        [second.id.clone(), first.id.clone()],
        "newest first"
    );
    assert!(
        store
            .personal_access_tokens_of(&theirs)
            .await
            .expect("list")
            .is_empty()
    );

    store
        .record_personal_access_token_use(&first.id, 150)
        .await
        .expect("use");
    let used = store
        .find_personal_access_token(&first.hash)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(used.last_used_at, Some(150));

    assert!(
        store
            .delete_personal_access_token(&theirs, &first.id)
            .await
            .expect("delete")
            .is_none(),
        "only by its owner"
    );
    let deleted = store
        .delete_personal_access_token(&mine, &first.id)
        .await
        .expect("delete")
        .expect("deleted");
    assert_eq!(deleted.id, first.id);
    assert!(
        store
            .find_personal_access_token(&first.hash)
            .await
            .expect("find")
            .is_none()
    );

    // Expired ones are purged; the owner's deletion takes the rest.
    assert_eq!(
        store
            .purge_personal_access_tokens(200 + 86_400 + 1)
            .await
            .expect("purge"),
        1
    );
    assert!(
        store
            .personal_access_tokens_of(&mine)
            .await
            .expect("list")
            .is_empty()
    );
    assert!(store.delete_client(&service.id).await.expect("delete"));
    assert!(
        store
            .find_personal_access_token(&SecretHash::of(&keyed_token))
            .await
            .expect("find")
            .is_none(),
        "gone with its service account"
    );
    let (again, _) = request("again", 3).issue(mine.clone(), 400).expect("issue");
    store.add_personal_access_token(&again).await.expect("add");
    assert!(
        store
            .delete_user(owner.username.as_str())
            .await
            .expect("delete")
    );
    assert!(
        store
            .find_personal_access_token(&again.hash)
            .await
            .expect("find")
            .is_none()
    );
}
