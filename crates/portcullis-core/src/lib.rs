//! The Portcullis domain: users, clients, scopes, grants, access-token policy and the signing-key
//! lifecycle.
//!
//! Nothing here performs I/O. Callers pass the current time (`now`, Unix seconds) and the stored
//! records; functions return decisions. That keeps every protocol rule unit-testable with a fixed
//! clock, and keeps HTTP and SQL at the edges (`portcullis-auth`, `portcullis-store`).

pub mod audit;
pub mod authentication;
pub mod authorize;
pub mod client;
pub mod client_address;
pub mod client_id_document;
pub mod client_keys;
pub mod client_metadata;
pub mod clock;
pub mod cluster;
pub mod cookies;
pub mod device_grant;
pub mod dpop_nonce;
pub mod email_verification;
pub mod factor_notice;
pub mod federation;
pub mod grant;
pub mod grants_state;
pub mod html;
pub mod id_token;
pub mod logout_notice;
pub mod network_address;
pub mod outbox;
pub mod passkey;
pub mod password;
pub mod password_reset;
pub mod password_strength;
pub mod personal_access_token;
pub mod pkce;
pub mod pushed_request;
pub mod recovery_code;
pub mod registration;
pub use portcullis_jose::replay;
pub mod role;
pub mod scope;
pub mod secret;
pub mod session;
pub mod signing_keys;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod user;

pub use audit::{AuditEvent, AuditRecord};
pub use authentication::{Acr, AuthMethod, AuthMethods, MfaPolicy};
pub use client::{
    AuthenticationMethod, Client, ClientError, ClientKind, ClientRegistration, RequestObjectAlg,
};
pub use client_address::{TrustedProxies, client_address};
pub use client_keys::{ClientKeys, ClientKeysError};
pub use clock::{Clock, SystemClock, UnixSeconds};
pub use cluster::{ClusterAnnouncer, NoAnnouncer};
pub use email_verification::VerificationLink;
pub use grant::GrantError;
pub use grants_state::{
    AuthorizationCodeRecord, CodeRedemption, IssuedAccessToken, RefreshOutcome, RefreshTokenFamily,
    RefreshTokenLookup, RefreshTokenRecord, RevocationEntry, RevocationFeedPage, RevocationKind,
    RevokedFamily,
};
pub use logout_notice::LogoutNotice;
pub use outbox::{MessageText, OutboxEntry, OutboxStatus, OutgoingEmail};
pub use password::{PasswordError, PasswordHasher, PasswordPolicy};
pub use password_reset::{ResetLink, ResetRequest};
pub use registration::{
    Invitation, PendingRegistration, RegistrationMode, RegistrationPolicy, RegistrationRefusal,
};
pub use role::{Role, RoleError};
pub use scope::ScopeSet;
pub use secret::{SecretHash, generate_secret};
pub use session::{Session, SessionPolicy};
pub use signing_keys::{KeyLifecyclePolicy, KeyMetadata, KeyStatus, SigningKeyRecord};
pub use token::{AccessTokenClaims, Confirmation, TokenPolicy};
pub use user::{NewUser, User, UserError, Username};
