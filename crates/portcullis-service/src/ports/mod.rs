//! What the use cases need from the outside world, as traits the backends implement.

mod error;
mod store;
mod throttle;

pub use error::StoreError;
pub use store::{
    AuditStore, ClientStore, CodeStore, ConsentStore, GrantStore, RevocationStore, SessionStore,
    SigningKeyStore, Store, UserStore,
};
pub use throttle::{MemoryThrottle, SignInThrottle};
