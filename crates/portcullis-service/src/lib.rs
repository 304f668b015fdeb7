//! The use cases of Portcullis, with no HTTP and no SQL: token issuance per grant, client
//! authentication, revocation, sign-in credentials and throttling, key management and audit.
//!
//! The auth server's routes and the admin CLI call these; they reach storage only through the
//! [`ports`] (traits implemented by `portcullis-store` and `portcullis-redis`), and the domain
//! rules they apply live in `portcullis-core`.

pub mod account;
pub mod admin;
mod admission;
pub mod audit;
pub mod authorization;
pub mod backchannel_logout;
pub mod chosen_password;
pub mod client_cache;
pub mod client_directory;
pub mod client_registration;
pub mod credentials;
pub mod device_authorization;
pub mod dpop;
pub mod email_verification;
pub mod factors;
pub mod federation;
pub mod fetch_budget;
pub mod inspection;
pub mod keys;
pub mod link_token;
pub mod mail;
pub mod passkeys;
pub mod password_reset;
pub mod personal_access_tokens;
pub mod ports;
pub mod pushed_requests;
pub mod registration;
pub mod relying_party;
pub mod request_objects;
pub mod revocation;
pub mod roles;
pub mod tokens;

pub use account::{Account, AccountChangeError, AccountOverview, EmailChange};
pub use admin::{Actor, AdminError, Administration};
pub use admission::{InLine, WaitingLine};
pub use audit::AuditLog;
pub use authorization::{AuthorizationAttempt, AuthorizationOutcome, Authorizer};
pub use backchannel_logout::{LogoutDelivery, LogoutReport, LogoutSender};
pub use credentials::CredentialVerifier;
pub use email_verification::{EmailVerification, LinkKind, LinkPurpose, VerificationError};
pub use factors::{FactorError, FactorNotice, FactorStatus, SecondFactors, TotpEnrollment};
pub use inspection::{Introspection, TokenInspector};
pub use keys::{KeyError, KeyManager};
pub use mail::{DeliveryMetrics, DeliveryReport, MailError, Mailer, OutboxDelivery};
pub use passkeys::{PasskeyCeremony, PasskeyError, Passkeys};
pub use password_reset::{PasswordReset, ResetError};
pub use ports::{
    ADDRESS_IN_USE, AuditQuery, AuditStore, ClientSearch, ClientStore, CodeStore, ConsentStore,
    DeviceGrantStore, FactorStore, FederatedIdentityStore, FederationProviderStore, GrantStore,
    IDENTITY_LINKED, LogoutNoticeStore, MemoryThrottle, NewRegistration, OutboxStore, PasskeyStore,
    PasswordResetStore, PersonalAccessTokenStore, ProofReplay, PushedRequestStore,
    RegistrationOutcome, RegistrationStore, RevocationStore, RoleStore, SessionSearch,
    SessionStore, SignInThrottle, SigningKeyStore, Store, StoreError, StoredProvider, UserSearch,
    UserStore,
};
pub use pushed_requests::{OpenedRequest, PushError, PushedRequest, PushedRequests, Pusher};
pub use registration::{Registration, RegistrationError, RegistrationForm};
pub use relying_party::RelyingParty;
pub use revocation::Revoker;
pub use tokens::{TokenError, TokenIssuer, TokenRequest};
