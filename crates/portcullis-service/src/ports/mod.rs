//! What the use cases need from the outside world, as traits the backends implement.

mod error;
mod gateway_sessions;
mod replay;
mod store;
mod throttle;

pub use error::{ADDRESS_IN_USE, IDENTITY_LINKED, StoreError};
pub use gateway_sessions::{
    CreateError, GatewaySessionStore, PendingLogin, SessionRecord, StoreLimits,
};
pub use replay::ProofReplay;
pub use store::{
    AuditQuery, AuditStore, ClientSearch, ClientStore, CodeStore, ConsentStore, DeviceGrantStore,
    FactorStore, FederatedIdentityStore, FederationProviderStore, GrantStore, LogoutNoticeStore,
    NewRegistration, OutboxStore, PasskeyStore, PasswordResetStore, PersonalAccessTokenStore,
    PushedRequestStore, RegistrationOutcome, RegistrationStore, RevocationStore, RoleStore,
    SessionSearch, SessionStore, SigningKeyStore, Store, StoredProvider, UserSearch, UserStore,
};
pub use throttle::{MemoryThrottle, SignInThrottle};
