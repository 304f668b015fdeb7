//! The store's ports: one trait per aggregate ([`UserStore`], [`ClientStore`], [`SigningKeyStore`],
//! ...) and a [`Store`] that combines them, so the use cases hold an `Arc<dyn Store>` and never know
//! the backend. The SQL backends (`portcullis-store`) and Redis (`portcullis-redis`) implement them.

use crate::StoreError;
use async_trait::async_trait;
use portcullis_core::device_grant::{DeviceGrantRecord, DeviceGrantStatus};
use portcullis_core::federation::{FederatedIdentity, ProviderSpec};
use portcullis_core::passkey::PasskeyRecord;
use portcullis_core::personal_access_token::{PersonalAccessToken, TokenOwner};
use portcullis_core::pushed_request::{OpenedPushedRequest, PushedRequestRecord};
use portcullis_core::totp::TotpFactorRecord;
use portcullis_core::{
    AuditRecord, AuthorizationCodeRecord, Client, CodeRedemption, Invitation, IssuedAccessToken,
    LogoutNotice, OutboxEntry, OutboxStatus, OutgoingEmail, PendingRegistration, RefreshOutcome,
    RefreshTokenFamily, RefreshTokenLookup, RefreshTokenRecord, ResetLink, ResetRequest,
    RevocationEntry, RevocationFeedPage, RevocationKind, RevokedFamily, Role, SecretHash, Session,
    SigningKeyRecord, UnixSeconds, User, VerificationLink,
};

/// A page of the user list: a username-key prefix to search, and a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSearch {
    /// Only usernames starting with this, in any letter case.
    pub prefix: Option<String>,
    /// Only usernames after this key (the last of the previous page).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// A page of the client list: an id prefix to search, and a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientSearch {
    /// Only ids starting with this (ids are case-sensitive).
    pub prefix: Option<String>,
    /// Only ids after this one (the last of the previous page).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// A page of the session list, newest first: optionally one user's, and a cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSearch {
    /// Only this user's sessions.
    pub user_id: Option<String>,
    /// Only sessions older than this `(created_at, sid)` (the last of the previous page).
    pub before: Option<(UnixSeconds, String)>,
    /// At most this many.
    pub limit: u32,
}

/// Users, addressed by username (case-insensitively) or id.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user. [`StoreError::Conflict`] if the username is taken in any letter case.
    async fn create_user(&self, user: &User) -> Result<(), StoreError>;
    /// The user with this username, in any letter case.
    async fn find_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The users whose email address is `email_key` in lower case.
    async fn find_users_by_email(&self, email_key: &str) -> Result<Vec<User>, StoreError>;
    /// The user with this id.
    async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// All users, by username.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// One page of users by username key (lowercase), through the username index: those whose
    /// key starts with `search.prefix` and comes after `search.after`, at most `search.limit`.
    async fn search_users(&self, search: &UserSearch) -> Result<Vec<User>, StoreError>;
    /// Replaces the email address and when it was verified (`None`: unverified); `false` if
    /// there is no such user. [`StoreError::Conflict`] if another account uses the address.
    async fn set_email(
        &self,
        username: &str,
        email: Option<&str>,
        verified_at: Option<UnixSeconds>,
    ) -> Result<bool, StoreError>;
    /// Deletes a user; `false` if there was none.
    async fn delete_user(&self, username: &str) -> Result<bool, StoreError>;
    /// Replaces the password hash; `false` if there is no such user.
    async fn set_password_hash(&self, username: &str, hash: &str) -> Result<bool, StoreError>;
    /// Replaces the roles; `false` if there is no such user.
    async fn set_roles(&self, username: &str, roles: &[String]) -> Result<bool, StoreError>;
    /// Disables (`Some(time)`) or enables (`None`) a user; `false` if there is no such user.
    async fn set_disabled_at(
        &self,
        username: &str,
        disabled_at: Option<UnixSeconds>,
    ) -> Result<bool, StoreError>;
}

/// OAuth clients, addressed by client id.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Registers a client. [`StoreError::Conflict`] if the id is taken.
    async fn create_client(&self, client: &Client) -> Result<(), StoreError>;
    /// The client with this id.
    async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    /// All clients, by id.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// A page of clients by id, in byte order, by index.
    async fn search_clients(&self, search: &ClientSearch) -> Result<Vec<Client>, StoreError>;
    /// Replaces a client's registration (everything but its id, type, secret, registration
    /// access token and creation time); `false` if there is no such client.
    async fn update_client(&self, client: &Client) -> Result<bool, StoreError>;
    /// Deletes a client with its refresh tokens, consents and session records; `false` if
    /// there was none.
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;
    /// Deletes clients known by a metadata document whose copy expired before
    /// `expired_before` and that hold no refresh token still alive at `now`; how many.
    async fn purge_stale_document_clients(
        &self,
        expired_before: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<u64, StoreError>;
    /// Replaces a confidential client's secret hash; `false` if there is no such confidential client.
    async fn set_client_secret_hash(&self, id: &str, hash: &SecretHash)
    -> Result<bool, StoreError>;
    /// How many clients described themselves (RFC 7591 registrations, Client ID Metadata
    /// Documents) and are still kept.
    async fn count_self_described_clients(&self) -> Result<u64, StoreError>;
}

/// Signing keys, private halves sealed.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Stores a new key. [`StoreError::Conflict`] if the kid exists.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;
    /// All keys, oldest first.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
}

/// Browser sessions, addressed by the hash of their cookie secret or by `sid`.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session.
    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session whose cookie secret hashes to `secret_hash`.
    async fn find_session(&self, secret_hash: &[u8]) -> Result<Option<Session>, StoreError>;
    /// Records activity.
    async fn touch_session(&self, secret_hash: &[u8], now: UnixSeconds) -> Result<(), StoreError>;
    /// Deletes a session by `sid`, returning it if it existed.
    async fn delete_session(&self, sid: &str) -> Result<Option<Session>, StoreError>;
    /// All sessions, newest first.
    async fn list_sessions(&self) -> Result<Vec<Session>, StoreError>;
    /// The sessions of one user, newest first.
    async fn list_sessions_of_user(&self, user_id: &str) -> Result<Vec<Session>, StoreError>;
    /// A page of sessions, newest first (by `created_at`, then `sid`).
    async fn search_sessions(&self, search: &SessionSearch) -> Result<Vec<Session>, StoreError>;
    /// Deletes sessions past their absolute expiry or idle for `idle_secs`; returns how many.
    async fn purge_sessions(&self, now: UnixSeconds, idle_secs: i64) -> Result<u64, StoreError>;
}

/// Remembered consent per user and client.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records (or replaces) the scopes a user consented to for a client.
    async fn save_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// The consented scope, space-delimited.
    async fn find_consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Forgets a consent; `false` if there was none.
    async fn revoke_consent(&self, user_id: &str, client_id: &str) -> Result<bool, StoreError>;
    /// Every consent of a user: `(client_id, scope, granted_at)`, by client.
    async fn consents_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String, UnixSeconds)>, StoreError>;
}

/// Authorization codes. Redemption is atomic. Implemented by every [`Store`], and by a Redis
/// store for clusters that keep codes there.
#[async_trait]
pub trait CodeStore: Send + Sync {
    /// Stores an issued code.
    async fn insert_code(&self, code: &AuthorizationCodeRecord) -> Result<(), StoreError>;
    /// Marks a code redeemed, atomically; a second redemption reports the replay.
    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<CodeRedemption, StoreError>;
    /// Records the tokens issued from a code, so a replay can revoke them.
    async fn record_code_tokens(
        &self,
        code_hash: &[u8],
        family_id: Option<&str>,
        access_token: &IssuedAccessToken,
    ) -> Result<(), StoreError>;
}

/// Refresh token families, with every access token issued from each. Rotation is atomic, and
/// serialized with revocation of the family: a rotation racing a revocation either fails or has
/// its access token among those the revocation returns.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Creates a family with its first token and the access token issued with it.
    async fn create_family(
        &self,
        family: &RefreshTokenFamily,
        first: &RefreshTokenRecord,
        access_token: &IssuedAccessToken,
    ) -> Result<(), StoreError>;
    /// Rotates `presented_hash` to a new token `next_hash` expiring at `next_expires_at` (clamped
    /// to the family's end) and records `access_token` as issued from the family, atomically;
    /// reuse of a used token revokes the family and returns its access tokens.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next_hash: &[u8],
        next_expires_at: UnixSeconds,
        access_token: &IssuedAccessToken,
        now: UnixSeconds,
    ) -> Result<RefreshOutcome, StoreError>;
    /// Looks a refresh token up by hash.
    async fn find_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshTokenLookup>, StoreError>;
    /// Revokes a family; returns it with its access tokens if it existed.
    async fn revoke_family(
        &self,
        family_id: &str,
        now: UnixSeconds,
    ) -> Result<Option<RevokedFamily>, StoreError>;
    /// Revokes every live family of a session; returns them with their access tokens.
    async fn revoke_families_of_session(
        &self,
        sid: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError>;
    /// Revokes every live family of a user; returns them with their access tokens.
    async fn revoke_families_of_user(
        &self,
        user_id: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError>;
    /// Revokes every live family of a client; returns them with their access tokens.
    async fn revoke_families_of_client(
        &self,
        client_id: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError>;
    /// Revokes every live family of a user at one client; returns them with their access tokens.
    async fn revoke_families_of_user_client(
        &self,
        user_id: &str,
        client_id: &str,
        now: UnixSeconds,
    ) -> Result<Vec<RevokedFamily>, StoreError>;
    /// Deletes expired codes and expired or long-revoked families; returns how many rows.
    async fn purge_grants(&self, now: UnixSeconds) -> Result<u64, StoreError>;
}

/// The revocation list and its feed. The feed is gap-free: an entry is served only once every
/// entry before it in feed order is committed, so a reader that resumes after the last position it
/// saw can never skip one that committed late.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Adds an entry.
    async fn add_revocation(
        &self,
        entry: &RevocationEntry,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// Live entries after position `after`, in feed order, at most `limit`.
    async fn revocations_after(
        &self,
        after: i64,
        limit: u32,
        now: UnixSeconds,
    ) -> Result<RevocationFeedPage, StoreError>;
    /// Whether a live entry of `kind` names `value`.
    async fn is_revoked(
        &self,
        kind: RevocationKind,
        value: &str,
        now: UnixSeconds,
    ) -> Result<bool, StoreError>;
    /// Deletes expired entries; returns how many.
    async fn purge_revocations(&self, now: UnixSeconds) -> Result<u64, StoreError>;
}

/// A search of the audit log; every filter that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this kind (`sign_in`, `token_issued`, ...).
    pub kind: Option<String>,
    /// Only events about this subject (user id, username for sign-ins, admin target).
    pub subject: Option<String>,
    /// Only events involving this client.
    pub client_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<UnixSeconds>,
    /// Only events before this time.
    pub until: Option<UnixSeconds>,
    /// Only events before this position (the last `id` of the previous page).
    pub before_id: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// The audit log: every sign-in, token issue, refresh, revocation and failure, append-only.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends records in order, atomically.
    async fn append_audit(&self, records: &[AuditRecord]) -> Result<(), StoreError>;
    /// The newest records matching `query`, newest first, at most `query.limit`.
    async fn search_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError>;
    /// Deletes records from before `before`; returns how many.
    async fn purge_audit(&self, before: UnixSeconds) -> Result<u64, StoreError>;
}

/// Roles and the scopes they grant.
#[async_trait]
pub trait RoleStore: Send + Sync {
    /// Every role, by name.
    async fn list_roles(&self) -> Result<Vec<Role>, StoreError>;
    /// Creates the role or replaces the one of that name.
    async fn put_role(&self, role: &Role, now: UnixSeconds) -> Result<(), StoreError>;
    /// Deletes a role; whether it existed. Users keep the name as a plain string.
    async fn delete_role(&self, name: &str) -> Result<bool, StoreError>;
}

/// The durable outbox of outgoing email.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues a message, due at once; durable when this returns. Returns its id.
    async fn enqueue_email(
        &self,
        email: &OutgoingEmail,
        now: UnixSeconds,
    ) -> Result<i64, StoreError>;
    /// Takes up to `limit` messages due at `now`, oldest first, and holds them until
    /// `now + lease_secs` so no other worker (on this or another server) takes them meanwhile.
    async fn claim_due_emails(
        &self,
        now: UnixSeconds,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// An SMTP server accepted the message: it leaves the outbox.
    async fn remove_email(&self, id: i64) -> Result<(), StoreError>;
    /// An attempt failed: count it, keep `error`, try again at `retry_at`.
    async fn postpone_email(
        &self,
        id: i64,
        retry_at: UnixSeconds,
        error: &str,
    ) -> Result<(), StoreError>;
    /// How many messages wait, and since when.
    async fn outbox_status(&self) -> Result<OutboxStatus, StoreError>;
}

/// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): which clients each session
/// signed in to, and the durable queue of notices for them once it ends.
#[async_trait]
pub trait LogoutNoticeStore: Send + Sync {
    /// Remembers that `client_id` got tokens in session `sid` of `user_id` (once per pair).
    async fn record_session_client(
        &self,
        sid: &str,
        client_id: &str,
        user_id: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// Session `sid` ended: queues a notice, due at once, for each of its clients with a
    /// `backchannel_logout_uri`, and forgets its clients, in one transaction. Returns how many
    /// notices were queued; durable when this returns.
    async fn queue_logout_notices(&self, sid: &str, now: UnixSeconds) -> Result<u64, StoreError>;
    /// Takes up to `limit` notices due at `now`, oldest first, holding them until
    /// `now + lease_secs` so no other server takes them meanwhile.
    async fn claim_due_logout_notices(
        &self,
        now: UnixSeconds,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<LogoutNotice>, StoreError>;
    /// The notice was delivered, or given up: it leaves the queue.
    async fn remove_logout_notice(&self, id: i64) -> Result<(), StoreError>;
    /// An attempt failed: count it, keep `error`, try again at `retry_at`.
    async fn postpone_logout_notice(
        &self,
        id: i64,
        retry_at: UnixSeconds,
        error: &str,
    ) -> Result<(), StoreError>;
    /// How many notices wait, and since when.
    async fn logout_notice_status(&self) -> Result<OutboxStatus, StoreError>;
    /// Forgets the clients of sessions that began before `before` (they have ended by now).
    async fn purge_session_clients(&self, before: UnixSeconds) -> Result<u64, StoreError>;
}

/// Forgotten-password requests and reset links.
#[async_trait]
pub trait PasswordResetStore: Send + Sync {
    /// Queues a request for a reset link to `email_key`, whether or not an account uses it.
    async fn queue_reset_request(
        &self,
        email_key: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// Up to `limit` queued requests, oldest first.
    async fn reset_requests(&self, limit: u32) -> Result<Vec<ResetRequest>, StoreError>;
    /// Settles a request in one transaction: for each `(link, email)`, every older link of that
    /// account is deleted, the link stored and the email queued in the outbox; the request is
    /// removed.
    async fn settle_reset_request(
        &self,
        request_id: i64,
        links: &[(ResetLink, OutgoingEmail)],
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// The account of a live (unexpired, unused) link.
    async fn find_reset_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<String>, StoreError>;
    /// Uses a live link: deletes it and returns its account, once (`None` for any other caller).
    async fn use_reset_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<String>, StoreError>;
    /// Deletes links expired at `now`; returns how many.
    async fn purge_reset_links(&self, now: UnixSeconds) -> Result<u64, StoreError>;
}

/// A registration to store in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct NewRegistration<'a> {
    /// The registration waiting for its address to be confirmed.
    pub pending: &'a PendingRegistration,
    /// The invitation to use up, in invitation mode.
    pub invitation_hash: Option<&'a [u8]>,
    /// The message carrying the link, queued when no account uses the address.
    pub confirmation_email: &'a OutgoingEmail,
    /// The message queued instead when an account uses the address (lower-cased).
    pub address_in_use_email: &'a OutgoingEmail,
}

/// What a registration did (the page answers the same either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationOutcome {
    /// The registration and the message with its link were stored.
    Pending,
    /// An account uses the address: the registration was stored (holding its username for the
    /// link's lifetime, as any other) and only the message to that address queued.
    AddressInUse,
    /// The invitation was used up meanwhile (or expired): nothing was stored.
    InvitationGone,
}

/// Self-service registration: invitations, registrations waiting for their address, and email
/// verification links of existing accounts.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// In one transaction that writes first: uses up the invitation (if any); refuses a
    /// username that an account or a live registration has (in any letter case) with
    /// [`StoreError::Conflict`], storing nothing; stores the registration; and queues
    /// `confirmation_email`, or `address_in_use_email` when an account uses the address.
    async fn register(
        &self,
        registration: &NewRegistration<'_>,
        now: UnixSeconds,
    ) -> Result<RegistrationOutcome, StoreError>;
    /// A live registration.
    async fn find_pending_registration(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<PendingRegistration>, StoreError>;
    /// Turns a live registration into `user`, once, in one transaction: `false` when it is not
    /// live (or a concurrent caller took it); [`StoreError::Conflict`] (nothing changed) when
    /// the username or the address was taken meanwhile.
    async fn complete_registration(
        &self,
        token_hash: &[u8],
        user: &User,
        now: UnixSeconds,
    ) -> Result<bool, StoreError>;
    /// Stores an invitation.
    async fn create_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;
    /// A live (unexpired, unused) invitation.
    async fn find_invitation(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<Invitation>, StoreError>;
    /// Stores a link, deleting the account's older ones, and queues its email, in one
    /// transaction.
    async fn send_verification_link(
        &self,
        link: &VerificationLink,
        email: &OutgoingEmail,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// A live link.
    async fn find_verification_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
    ) -> Result<Option<VerificationLink>, StoreError>;
    /// Uses a live link once, in one transaction: deletes it, makes its address the account's,
    /// verified at `now`, and queues `notice` (to the old address). `None` for a link that is
    /// not live (or was used by a concurrent caller); [`StoreError::Conflict`] (nothing changed)
    /// when another account took the address meanwhile.
    async fn use_verification_link(
        &self,
        token_hash: &[u8],
        now: UnixSeconds,
        notice: Option<&OutgoingEmail>,
    ) -> Result<Option<VerificationLink>, StoreError>;
    /// Deletes every verification link of an account (its password changed, it was signed out
    /// everywhere, an administrator changed its address): a link asked for before stops working.
    async fn delete_verification_links(&self, user_id: &str) -> Result<(), StoreError>;
    /// Deletes expired invitations, registrations and verification links; returns how many.
    async fn purge_registration_links(&self, now: UnixSeconds) -> Result<u64, StoreError>;
}

/// Second factors: a user's one-time-code app and recovery codes.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Adds a user's confirmed one-time-code app; `false` (and nothing changed) when the user
    /// already has one.
    async fn add_totp(&self, factor: &TotpFactorRecord) -> Result<bool, StoreError>;
    /// The user's one-time-code app.
    async fn find_totp(&self, user_id: &str) -> Result<Option<TotpFactorRecord>, StoreError>;
    /// Records that a code of time `step` was accepted (and clears the failures): `false` when a
    /// code of this step or a later one was accepted before (a replay, or a race lost), so each
    /// code is good once.
    async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool, StoreError>;
    /// Counts a wrong second-factor code of a user with an app: the wrong codes in a row now
    /// (0 when the user has no app).
    async fn count_factor_failure(&self, user_id: &str) -> Result<i64, StoreError>;
    /// A second factor was proven: the wrong codes in a row start again from zero.
    async fn clear_factor_failures(&self, user_id: &str) -> Result<(), StoreError>;
    /// Replaces the user's recovery codes by these hashes.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[Vec<u8>],
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// Marks the recovery code `hash` used: `false` if it is not the user's or was used before.
    async fn use_recovery_code(
        &self,
        user_id: &str,
        hash: &[u8],
        now: UnixSeconds,
    ) -> Result<bool, StoreError>;
    /// How many of the user's recovery codes are unused.
    async fn unused_recovery_codes(&self, user_id: &str) -> Result<u64, StoreError>;
    /// Removes every second factor of the user (app, recovery codes and passkeys); `true` if
    /// there was any.
    async fn delete_factors(&self, user_id: &str) -> Result<bool, StoreError>;
}

/// Passkeys and security keys (WebAuthn credentials) of users.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Registers a credential. [`StoreError::Conflict`] when its id is registered already (to
    /// anyone: a credential id belongs to one user only).
    async fn add_passkey(&self, passkey: &PasskeyRecord) -> Result<(), StoreError>;
    /// The user's credentials, oldest first.
    async fn passkeys_of_user(&self, user_id: &str) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// The credential with this id.
    async fn find_passkey(&self, credential_id: &[u8])
    -> Result<Option<PasskeyRecord>, StoreError>;
    /// Records a use: the updated credential (counter, backup flags) and when.
    async fn record_passkey_use(
        &self,
        credential_id: &[u8],
        credential: &str,
        backed_up: bool,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// Removes one of the user's credentials; `false` if the user has no such credential.
    async fn delete_passkey(&self, user_id: &str, credential_id: &[u8])
    -> Result<bool, StoreError>;
}

/// Personal access tokens and service accounts' API keys.
#[async_trait]
pub trait PersonalAccessTokenStore: Send + Sync {
    /// Stores a new token; its owner must exist ([`StoreError::Conflict`] otherwise).
    async fn add_personal_access_token(
        &self,
        token: &PersonalAccessToken,
    ) -> Result<(), StoreError>;
    /// The owner's tokens, newest first.
    async fn personal_access_tokens_of(
        &self,
        owner: &TokenOwner,
    ) -> Result<Vec<PersonalAccessToken>, StoreError>;
    /// The token with this hash.
    async fn find_personal_access_token(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<PersonalAccessToken>, StoreError>;
    /// Records that a resource server asked about the token at `now`.
    async fn record_personal_access_token_use(
        &self,
        id: &str,
        now: UnixSeconds,
    ) -> Result<(), StoreError>;
    /// Deletes one of the owner's tokens and returns it; `None` if the owner has no such token.
    async fn delete_personal_access_token(
        &self,
        owner: &TokenOwner,
        id: &str,
    ) -> Result<Option<PersonalAccessToken>, StoreError>;
    /// Deletes tokens that expired before `before`; returns how many.
    async fn purge_personal_access_tokens(&self, before: UnixSeconds) -> Result<u64, StoreError>;
}

/// Pushed authorization requests (RFC 9126), each usable by its client until it expires or its
/// authorization request is answered.
#[async_trait]
pub trait PushedRequestStore: Send + Sync {
    /// Stores `request` unless its client has `max_pending` unexpired ones pushed by the same
    /// `pushed_by` at `now`: `false` then (the count is read before the insert, so a burst may
    /// pass it by a little).
    async fn push_request(
        &self,
        request: &PushedRequestRecord,
        now: UnixSeconds,
        max_pending: u64,
    ) -> Result<bool, StoreError>;
    /// `client_id`'s unexpired request `reference_hash`; the first time it is opened, it is
    /// marked opened at `now` and expires at `opened_until` instead.
    async fn open_pushed_request(
        &self,
        reference_hash: &str,
        client_id: &str,
        now: UnixSeconds,
        opened_until: UnixSeconds,
    ) -> Result<Option<OpenedPushedRequest>, StoreError>;
    /// Removes a request whose authorization request was answered, atomically: `false` if it
    /// was gone already (another answer won).
    async fn finish_pushed_request(&self, reference_hash: &str) -> Result<bool, StoreError>;
    /// Removes requests expired at `now`.
    async fn purge_pushed_requests(&self, now: UnixSeconds) -> Result<u64, StoreError>;
}

/// Device authorization requests (RFC 8628), from the device's request until its device code is
/// redeemed, refused or expired.
#[async_trait]
pub trait DeviceGrantStore: Send + Sync {
    /// Stores `grant` unless its client has `max_pending` unexpired ones requested by the same
    /// `requested_by` at `now`: `false` then (the count is read before the insert). A user code
    /// already in use is a [`StoreError::Conflict`].
    async fn start_device_grant(
        &self,
        grant: &DeviceGrantRecord,
        now: UnixSeconds,
        max_pending: u64,
    ) -> Result<bool, StoreError>;
    /// The unexpired grant still waiting for its user under `user_code_hash`.
    async fn pending_device_grant(
        &self,
        user_code_hash: &str,
        now: UnixSeconds,
    ) -> Result<Option<DeviceGrantRecord>, StoreError>;
    /// Records the user's decision on a grant still pending and unexpired at `now`: `false` if it
    /// was decided already or expired.
    async fn decide_device_grant(
        &self,
        user_code_hash: &str,
        decision: &DeviceGrantStatus,
        now: UnixSeconds,
    ) -> Result<bool, StoreError>;
    /// The grant of `device_code_hash`, whatever its state.
    async fn find_device_grant(
        &self,
        device_code_hash: &str,
    ) -> Result<Option<DeviceGrantRecord>, StoreError>;
    /// Records a poll at `now` and the interval from then on.
    async fn record_device_poll(
        &self,
        device_code_hash: &str,
        now: UnixSeconds,
        interval_secs: i64,
    ) -> Result<(), StoreError>;
    /// Removes a grant once answered for good (tokens, denial, expiry), atomically: `false` if
    /// it was gone already (another poll took it).
    async fn end_device_grant(&self, device_code_hash: &str) -> Result<bool, StoreError>;
    /// Removes grants expired at `now`.
    async fn purge_device_grants(&self, now: UnixSeconds) -> Result<u64, StoreError>;
}

/// Upstream identities linked to local accounts, one per provider and subject and at most one
/// per provider and account; links go with their account.
#[async_trait]
pub trait FederatedIdentityStore: Send + Sync {
    /// The link of `subject` at `provider`.
    async fn find_federated_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<FederatedIdentity>, StoreError>;
    /// The account's links, oldest first.
    async fn federated_identities_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<FederatedIdentity>, StoreError>;
    /// Links an identity to an existing account: [`StoreError::Conflict`] when the identity is
    /// linked already, or the account has a link to that provider.
    async fn link_federated_identity(&self, identity: &FederatedIdentity)
    -> Result<(), StoreError>;
    /// Creates `user` linked to `identity` in one transaction: both or neither.
    /// [`StoreError::Conflict`] names what was taken (the username, the address, the identity).
    async fn create_federated_user(
        &self,
        user: &User,
        identity: &FederatedIdentity,
    ) -> Result<(), StoreError>;
    /// Removes the account's link to `provider`; `false` if it had none.
    async fn unlink_federated_identity(
        &self,
        user_id: &str,
        provider: &str,
    ) -> Result<bool, StoreError>;
    /// How many accounts are linked to `provider`.
    async fn count_federated_identities(&self, provider: &str) -> Result<u64, StoreError>;
    /// Removes every link to `provider` (it is gone); returns how many.
    async fn delete_federated_identities(&self, provider: &str) -> Result<u64, StoreError>;
}

/// An upstream provider added through the admin API, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProvider {
    /// The provider as written, without its secret.
    pub spec: ProviderSpec,
    /// Its client secret, sealed with the key-encryption key.
    pub sealed_secret: Option<Vec<u8>>,
    /// When it was last changed.
    pub updated_at: UnixSeconds,
}

/// Upstream providers added through the admin API.
#[async_trait]
pub trait FederationProviderStore: Send + Sync {
    /// Every one, by id.
    async fn list_federation_providers(&self) -> Result<Vec<StoredProvider>, StoreError>;
    /// Creates or replaces the provider of `provider.spec.id`.
    async fn put_federation_provider(&self, provider: &StoredProvider) -> Result<(), StoreError>;
    /// Deletes one; `false` if there was none.
    async fn delete_federation_provider(&self, id: &str) -> Result<bool, StoreError>;
}

/// Every aggregate of one backend, plus a health check.
#[async_trait]
pub trait Store:
    UserStore
    + ClientStore
    + SigningKeyStore
    + SessionStore
    + ConsentStore
    + CodeStore
    + GrantStore
    + RevocationStore
    + AuditStore
    + RoleStore
    + OutboxStore
    + PasswordResetStore
    + RegistrationStore
    + LogoutNoticeStore
    + FactorStore
    + PasskeyStore
    + PersonalAccessTokenStore
    + PushedRequestStore
    + DeviceGrantStore
    + FederatedIdentityStore
    + FederationProviderStore
{
    /// Succeeds when the backend answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;
}
