//! The device authorization grant (RFC 8628) before the token endpoint: a device's request
//! (§3.1-3.2) gets a device code (256 random bits, for the device) and a user code (short, for a
//! person to type); the user's decision on the verification page (§3.3) is recorded for the
//! device's next poll. Both codes are stored as digests.

use crate::roles::scope_for_user;
use crate::{AuditLog, SignInThrottle, Store, StoreError};
use portcullis_core::device_grant::{
    DEVICE_GRANT_LIFETIME_SECS, DeviceApproval, DeviceGrantRecord, DeviceGrantStatus,
    MAX_PENDING_PER_ADDRESS, MAX_PENDING_PER_CLIENT, POLL_INTERVAL_SECS, display_user_code,
    normalize_user_code, user_code_from,
};
use portcullis_core::grant::GrantError;
use portcullis_core::grant::device_code::{DeviceAuthorizationRequest, requested};
use portcullis_core::secret::storage_digest;
use portcullis_core::throttle::{AttemptKeys, ThrottleDecision};
use portcullis_core::{
    AuditEvent, Client, ClientKind, Clock, ScopeSet, Session, TokenPolicy, User, generate_secret,
};
use portcullis_jose::random_bytes;
use std::net::IpAddr;

/// Bytes of randomness in a device code (256 bits).
const DEVICE_CODE_BYTES: usize = 32;
/// Random bytes drawn for one user code: enough that rejection sampling practically never runs
/// out (each byte is kept with probability 240/256).
const USER_CODE_RANDOM_BYTES: usize = 32;
/// Fresh user codes tried when one collides with a live one.
const USER_CODE_ATTEMPTS: usize = 3;

/// The answer to a device authorization request (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceAuthorization {
    /// The device's secret for polling.
    pub device_code: String,
    /// What the user types, as shown: `BCDF-GHJK`.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same page with the code filled in (for a QR code or a link).
    pub verification_uri_complete: String,
    /// Seconds both codes live.
    pub expires_in: i64,
    /// Seconds to wait between polls.
    pub interval: i64,
}

/// Why a device authorization request was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceAuthorizationError {
    /// The client may not ask for this (the OAuth error of the grant's rules).
    #[error(transparent)]
    Refused(#[from] GrantError),
    /// The client has as many unexpired device codes as allowed.
    #[error("too many device codes are waiting: use them or let them expire")]
    TooMany,
    /// No randomness, or no free user code.
    #[error("cannot make codes")]
    Codes,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A device waiting for its user, as the verification page shows it.
#[derive(Debug, Clone)]
pub struct WaitingDevice {
    /// The stored request.
    pub grant: DeviceGrantRecord,
    /// Its client.
    pub client: Client,
    /// The canonical user code.
    pub user_code: String,
}

/// What a user code typed on the verification page found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The device waiting for it.
    Found(Box<WaitingDevice>),
    /// No device waits for this code (wrong, expired or decided).
    Unknown,
    /// Too many wrong codes from this user or network: try later.
    Locked,
}

/// Device authorization requests, borrowed from the server's state for one request.
pub struct DeviceAuthorizations<'a> {
    /// Where they are kept.
    pub store: &'a dyn Store,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// What a client may ask for.
    pub policy: &'a TokenPolicy,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Counts wrong user codes, as the sign-in counts wrong passwords.
    pub throttle: &'a dyn SignInThrottle,
}

impl DeviceAuthorizations<'_> {
    /// Starts `client`'s device authorization `request`, made from `client_ip`; the user is sent
    /// to `verification_uri`.
    ///
    /// # Errors
    /// [`DeviceAuthorizationError`].
    pub async fn start(
        &self,
        client: &Client,
        request: &DeviceAuthorizationRequest,
        client_ip: IpAddr,
        verification_uri: &str,
    ) -> Result<DeviceAuthorization, DeviceAuthorizationError> {
        let (scope, audiences) = requested(client, request, self.policy)?;
        let now = self.clock.now();
        // Anyone can ask for a public client: its device codes are counted per network (an
        // IPv4 address, an IPv6 /64).
        let (requested_by, max_pending) = match client.kind {
            ClientKind::Public => (
                AttemptKeys::new("", client_ip).network,
                MAX_PENDING_PER_ADDRESS,
            ),
            ClientKind::Confidential => (String::new(), MAX_PENDING_PER_CLIENT),
        };
        let device_code =
            generate_secret(DEVICE_CODE_BYTES).map_err(|_| DeviceAuthorizationError::Codes)?;
        for _ in 0..USER_CODE_ATTEMPTS {
            let user_code = new_user_code()?;
            let grant = DeviceGrantRecord {
                device_code_hash: storage_digest(&device_code),
                user_code_hash: storage_digest(&user_code),
                client_id: client.id.clone(),
                requested_by: requested_by.clone(),
                scope: scope.to_string(),
                audiences: audiences.clone(),
                interval_secs: POLL_INTERVAL_SECS,
                last_polled_at: None,
                expires_at: now + DEVICE_GRANT_LIFETIME_SECS,
                status: DeviceGrantStatus::Pending,
            };
            match self
                .store
                .start_device_grant(&grant, now, max_pending)
                .await
            {
                Ok(true) => {
                    // Letters of the alphabet and a dash: nothing to escape in a query.
                    let shown = display_user_code(&user_code);
                    return Ok(DeviceAuthorization {
                        device_code,
                        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                        user_code: shown,
                        verification_uri: verification_uri.to_owned(),
                        expires_in: DEVICE_GRANT_LIFETIME_SECS,
                        interval: POLL_INTERVAL_SECS,
                    });
                }
                Ok(false) => return Err(DeviceAuthorizationError::TooMany),
                // A live device has this user code: draw another.
                Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(DeviceAuthorizationError::Codes)
    }

    /// The device waiting for the user code `typed` by `user` from `client_ip`. A user code has
    /// about 35 bits, so guesses are throttled (RFC 8628 §5.1): every lookup counts against the
    /// user and their network, found or not (anyone can get a right code of their own, which
    /// must not wipe the count of wrong ones); wrong codes are audited.
    ///
    /// # Errors
    /// Store failures.
    pub async fn look_up(
        &self,
        typed: &str,
        user: &User,
        client_ip: IpAddr,
    ) -> Result<Lookup, StoreError> {
        let now = self.clock.now();
        let keys = AttemptKeys::for_purpose("device-code", &user.id, client_ip);
        match self.throttle.reserve(&keys, now).await? {
            ThrottleDecision::Locked(_) => return Ok(Lookup::Locked),
            ThrottleDecision::Allow(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
            ThrottleDecision::Allow(_) => {}
        }
        match self.waiting(typed).await? {
            Some(device) => Ok(Lookup::Found(Box::new(device))),
            None => {
                self.audit.record(&AuditEvent::DeviceCodeUnknown {
                    user_id: user.id.clone(),
                    remote_addr: client_ip.to_string(),
                });
                Ok(Lookup::Unknown)
            }
        }
    }

    /// The device waiting for the user code `typed` (in any case, with or without its dash),
    /// unthrottled.
    async fn waiting(&self, typed: &str) -> Result<Option<WaitingDevice>, StoreError> {
        let Some(user_code) = normalize_user_code(typed) else {
            return Ok(None);
        };
        let now = self.clock.now();
        let Some(grant) = self
            .store
            .pending_device_grant(&storage_digest(&user_code), now)
            .await?
        else {
            return Ok(None);
        };
        let Some(client) = self.store.find_client(&grant.client_id).await? else {
            return Ok(None);
        };
        Ok(Some(WaitingDevice {
            grant,
            client,
            user_code,
        }))
    }

    /// Records `user`'s decision, in `session`, on `device`: approved with the requested scope
    /// narrowed to what their roles allow, or denied. `false` if the device was decided already
    /// or expired meanwhile.
    ///
    /// # Errors
    /// Store failures.
    pub async fn decide(
        &self,
        device: &WaitingDevice,
        user: &User,
        session: &Session,
        approve: bool,
    ) -> Result<bool, StoreError> {
        let scope = if approve {
            let requested = ScopeSet::parse(&device.grant.scope).unwrap_or_default();
            Some(
                scope_for_user(self.store, user, &requested)
                    .await?
                    .to_string(),
            )
        } else {
            None
        };
        let decision = match &scope {
            Some(scope) => DeviceGrantStatus::Approved(DeviceApproval {
                user_id: user.id.clone(),
                sid: session.sid.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                scope: scope.clone(),
            }),
            None => DeviceGrantStatus::Denied,
        };
        let decided = self
            .store
            .decide_device_grant(&device.grant.user_code_hash, &decision, self.clock.now())
            .await?;
        if decided {
            self.audit.record(&AuditEvent::DeviceDecided {
                user_id: user.id.clone(),
                client_id: device.client.id.clone(),
                approved: approve,
                scope,
            });
        }
        Ok(decided)
    }
}

/// A fresh canonical user code.
fn new_user_code() -> Result<String, DeviceAuthorizationError> {
    let mut random = [0u8; USER_CODE_RANDOM_BYTES];
    random_bytes(&mut random).map_err(|_| DeviceAuthorizationError::Codes)?;
    user_code_from(&random).ok_or(DeviceAuthorizationError::Codes)
}
