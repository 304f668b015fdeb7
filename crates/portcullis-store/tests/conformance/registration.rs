//! Conformance cases of registration, invitations and email verification links.

use super::user;
use portcullis_core::{
    Invitation, OutgoingEmail, PendingRegistration, User, Username, VerificationLink,
};
use portcullis_service::{ADDRESS_IN_USE, NewRegistration, RegistrationOutcome, Store, StoreError};

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

fn registration_of(name: &str, email: &str, hash: u8, expires_at: i64) -> PendingRegistration {
    PendingRegistration {
        token_hash: vec![hash; 32],
        username: Username::parse(name).expect("username"),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        return_to: Some("/authorize?client_id=app".into()),
        expires_at,
    }
}

/// Registers `name` with `email` (link hash `hash`, live until 500), optionally invited.
async fn register(
    store: &dyn Store,
    (name, email, hash): (&str, &str, u8),
    invitation: Option<&[u8]>,
    now: i64,
) -> Result<RegistrationOutcome, StoreError> {
    store
        .register(
            &NewRegistration {
                pending: &registration_of(name, email, hash, 500),
                invitation_hash: invitation,
                confirmation_email: &message(email, "confirm"),
                address_in_use_email: &message(email, "in use"),
            },
            now,
        )
        .await
}

/// The account a confirmed registration becomes.
fn account_of(name: &str, email: &str) -> User {
    let mut account = user(name);
    account.email = Some(email.into());
    account.email_verified_at = Some(120);
    account
}

pub(super) async fn registrations_wait_for_their_address_and_reserve_only_the_name(
    store: &dyn Store,
) {
    store.create_user(&user("alice")).await.expect("alice");
    assert_eq!(
        register(store, ("erin", "Erin@Example.com", 1), None, 100)
            .await
            .expect("register"),
        RegistrationOutcome::Pending
    );
    assert!(
        store
            .find_user_by_username("erin")
            .await
            .expect("find")
            .is_none(),
        "no account before the address is confirmed"
    );
    assert_eq!(pending(store).await, 1, "the confirmation message");
    let found = store
        .find_pending_registration(&[1; 32], 100)
        .await
        .expect("find")
        .expect("live");
    assert_eq!(found.username.as_str(), "erin");
    assert_eq!(found.return_to.as_deref(), Some("/authorize?client_id=app"));

    assert_eq!(
        register(store, ("mallory", "ALICE@example.COM", 2), None, 100)
            .await
            .expect("register"),
        RegistrationOutcome::AddressInUse,
        "an address with an account, in any letter case"
    );
    assert_eq!(pending(store).await, 2, "its owner is told");
    for taken in ["ERIN", "Mallory", "alice"] {
        assert!(
            matches!(
                register(store, (taken, "x@example.com", 3), None, 100).await,
                Err(StoreError::Conflict(_))
            ),
            "{taken}: a live registration holds its name whether or not its address is in use"
        );
    }
    assert_eq!(pending(store).await, 2, "a taken username stores nothing");
    assert_eq!(
        register(store, ("mallory", "m@example.com", 4), None, 500)
            .await
            .expect("register"),
        RegistrationOutcome::Pending,
        "an expired registration gives its name up"
    );

    let erin = account_of("erin", "Erin@Example.com");
    assert!(
        store
            .complete_registration(&[1; 32], &erin, 120)
            .await
            .expect("complete")
    );
    assert!(
        !store
            .complete_registration(&[1; 32], &erin, 121)
            .await
            .expect("again"),
        "once"
    );
    let stored = store
        .find_user_by_username("erin")
        .await
        .expect("find")
        .expect("erin");
    assert_eq!(stored.email_verified_at, Some(120));

    // A registration whose address an account took meanwhile creates nothing and stays.
    store
        .register(
            &NewRegistration {
                pending: &registration_of("zed", "erin@example.com", 5, 900),
                invitation_hash: None,
                confirmation_email: &message("erin@example.com", "confirm"),
                address_in_use_email: &message("erin@example.com", "in use"),
            },
            130,
        )
        .await
        .expect("register");
    let zed = account_of("zed", "erin@example.com");
    assert!(matches!(
        store.complete_registration(&[5; 32], &zed, 140).await,
        Err(StoreError::Conflict(what)) if what == ADDRESS_IN_USE
    ));
    assert!(
        store
            .find_pending_registration(&[5; 32], 140)
            .await
            .expect("find")
            .is_some()
    );

    let mut twin = user("twin");
    twin.email = Some("erin@EXAMPLE.com".into());
    assert!(
        matches!(store.create_user(&twin).await, Err(StoreError::Conflict(what)) if what == ADDRESS_IN_USE),
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
        register(store, ("fay", "fay@example.com", 1), Some(&[9; 32]), 100)
            .await
            .expect("register"),
        RegistrationOutcome::Pending
    );
    assert_eq!(
        register(store, ("gus", "gus@example.com", 2), Some(&[9; 32]), 100)
            .await
            .expect("register"),
        RegistrationOutcome::InvitationGone
    );
    assert!(
        store
            .find_pending_registration(&[2; 32], 100)
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
        register(store, ("FAY", "x@example.com", 3), Some(&[8; 32]), 100)
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
        "the invitation and fay's registration"
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
