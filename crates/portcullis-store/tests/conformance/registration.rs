//! Conformance cases of registration, invitations and email verification links.

use super::user;
use portcullis_core::{Invitation, OutgoingEmail, VerificationLink};
use portcullis_service::{NewRegistration, RegistrationOutcome, Store, StoreError};

fn message(to: &str, subject: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.into(),
        subject: subject.into(),
        text: "text".into(),
        html: "<p>html</p>".into(),
    }
}

fn link(hash: u8, user_id: &str, email: &str, expires_at: i64) -> VerificationLink {
    VerificationLink {
        token_hash: vec![hash; 32],
        user_id: user_id.into(),
        email: email.into(),
        return_to: Some("/authorize?client_id=app".into()),
        expires_at,
    }
}

async fn pending(store: &dyn Store) -> u64 {
    store.outbox_status().await.expect("status").pending
}

/// Registers `name` with `email`, optionally with an invitation.
async fn register(
    store: &dyn Store,
    name: &str,
    email: &str,
    invitation: Option<&[u8]>,
) -> Result<RegistrationOutcome, StoreError> {
    let mut account = user(name);
    account.email = Some(email.into());
    let verification = link(name.len() as u8, &account.id, email, 500);
    store
        .register(
            &NewRegistration {
                user: &account,
                invitation_hash: invitation,
                link: &verification,
                verification_email: &message(email, "verify"),
                address_in_use_email: &message(email, "in use"),
            },
            100,
        )
        .await
}

pub(super) async fn registration_is_one_transaction_per_outcome(store: &dyn Store) {
    assert_eq!(
        register(store, "erin", "Erin@Example.com", None)
            .await
            .expect("register"),
        RegistrationOutcome::Created
    );
    let erin = store
        .find_user_by_username("erin")
        .await
        .expect("find")
        .expect("created");
    assert_eq!(erin.email_verified_at, None, "unverified until the link");
    assert_eq!(pending(store).await, 1, "the verification message");
    let stored = store
        .find_verification_link(&[4; 32], 100)
        .await
        .expect("link")
        .expect("stored with the account");
    assert_eq!(stored.user_id, erin.id);
    assert_eq!(
        stored.return_to.as_deref(),
        Some("/authorize?client_id=app")
    );

    assert_eq!(
        register(store, "other", "ERIN@example.COM", None)
            .await
            .expect("register"),
        RegistrationOutcome::AddressInUse,
        "one account per address, in any letter case"
    );
    assert!(
        store
            .find_user_by_username("other")
            .await
            .expect("find")
            .is_none()
    );
    assert_eq!(pending(store).await, 2, "the owner of the address is told");

    assert!(matches!(
        register(store, "ERIN", "new@example.com", None).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(pending(store).await, 2, "a taken username stores nothing");

    let mut twin = user("twin");
    twin.email = Some("erin@EXAMPLE.com".into());
    assert!(
        matches!(store.create_user(&twin).await, Err(StoreError::Conflict(what)) if what.contains("email")),
        "administrators cannot reuse an address either"
    );
}

pub(super) async fn invitations_are_single_use_and_expire(store: &dyn Store) {
    let invitation = Invitation {
        token_hash: vec![9; 32],
        email_key: Some("fay@example.com".into()),
        created_by: "cli:root".into(),
        created_at: 50,
        expires_at: 200,
    };
    store.create_invitation(&invitation).await.expect("create");
    assert_eq!(
        store.find_invitation(&[9; 32], 100).await.expect("find"),
        Some(invitation.clone())
    );
    assert_eq!(
        store.find_invitation(&[9; 32], 200).await.expect("find"),
        None,
        "expired"
    );
    assert_eq!(
        register(store, "fay", "fay@example.com", Some(&[9; 32]))
            .await
            .expect("register"),
        RegistrationOutcome::Created
    );
    assert_eq!(
        register(store, "gus", "gus@example.com", Some(&[9; 32]))
            .await
            .expect("register"),
        RegistrationOutcome::InvitationGone
    );
    assert!(
        store
            .find_user_by_username("gus")
            .await
            .expect("find")
            .is_none()
    );

    // A refused registration (taken username) gives the invitation back.
    let second = Invitation {
        token_hash: vec![8; 32],
        ..invitation
    };
    store.create_invitation(&second).await.expect("create");
    assert!(
        register(store, "FAY", "x@example.com", Some(&[8; 32]))
            .await
            .is_err()
    );
    assert!(
        store
            .find_invitation(&[8; 32], 100)
            .await
            .expect("find")
            .is_some()
    );
    assert_eq!(
        store.purge_registration_links(1_000).await.expect("purge"),
        2,
        "the invitation and fay's link"
    );
}

pub(super) async fn verification_links_verify_once_and_change_the_address(store: &dyn Store) {
    let hal = user("hal");
    store.create_user(&hal).await.expect("create");
    let older = link(1, &hal.id, "hal@new.example", 500);
    let newer = link(2, &hal.id, "hal@new.example", 500);
    store
        .send_verification_link(&older, &message("hal@new.example", "verify"), 100)
        .await
        .expect("send");
    store
        .send_verification_link(&newer, &message("hal@new.example", "verify"), 100)
        .await
        .expect("send");
    assert_eq!(pending(store).await, 2);
    assert!(
        store
            .find_verification_link(&[1; 32], 100)
            .await
            .expect("find")
            .is_none(),
        "superseded"
    );
    assert!(
        store
            .find_verification_link(&[2; 32], 500)
            .await
            .expect("find")
            .is_none(),
        "expired"
    );

    let notice = message("hal@example.com", "changed");
    let used = store
        .use_verification_link(&[2; 32], 120, Some(&notice))
        .await
        .expect("use");
    assert_eq!(used, Some(newer));
    let hal = store
        .find_user_by_id(&hal.id)
        .await
        .expect("find")
        .expect("hal");
    assert_eq!(hal.email.as_deref(), Some("hal@new.example"));
    assert_eq!(hal.email_verified_at, Some(120));
    assert_eq!(pending(store).await, 3, "the old address is told");
    assert_eq!(
        store
            .use_verification_link(&[2; 32], 121, None)
            .await
            .expect("reuse"),
        None
    );

    // Another account took the address meanwhile: nothing changes, the link stays.
    let ivy = user("ivy");
    store.create_user(&ivy).await.expect("create");
    store
        .send_verification_link(
            &link(3, &ivy.id, "HAL@new.example", 500),
            &message("x", "y"),
            130,
        )
        .await
        .expect("send");
    assert!(matches!(
        store.use_verification_link(&[3; 32], 131, None).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .find_verification_link(&[3; 32], 131)
            .await
            .expect("find")
            .is_some()
    );
    assert!(
        store
            .set_email("ivy", Some("ivy@v.example"), Some(140))
            .await
            .expect("set")
    );
    let ivy = store
        .find_user_by_username("ivy")
        .await
        .expect("find")
        .expect("ivy");
    assert_eq!(
        (ivy.email.as_deref(), ivy.email_verified_at),
        (Some("ivy@v.example"), Some(140))
    );
}
