//! Telling the rest of a cluster about a change the moment it is stored: a revocation, so every
//! gateway rejects the token at once; a change of signing keys, so every gateway refetches the
//! JWKS; and a change of a client, so every auth server forgets its copy. Announcements are best
//! effort and never block the request that made the change; the revocation feed, periodic key
//! refreshes and the short life of a kept client remain the paths that guarantee delivery.

use crate::RevocationEntry;

/// Receives changes to announce; implementations must return at once.
pub trait ClusterAnnouncer: Send + Sync {
    /// A revocation entry was stored.
    fn revoked(&self, entry: &RevocationEntry);
    /// The set of published signing keys changed.
    fn keys_changed(&self);
    /// A client's registration or secret changed, or the client was deleted.
    fn client_changed(&self, client_id: &str);
}

/// The announcer of a single server: nobody to tell.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAnnouncer;

impl ClusterAnnouncer for NoAnnouncer {
    fn revoked(&self, _entry: &RevocationEntry) {}
    fn keys_changed(&self) {}
    fn client_changed(&self, _client_id: &str) {}
}
