//! Where single-use values (DPoP proofs' `jti`s) are remembered: in this process's memory, or in
//! the cluster's Redis so that a proof used at one server is refused at every other.

use async_trait::async_trait;
use portcullis_core::UnixSeconds;
use portcullis_core::replay::{FirstUse, ReplayWindow};

/// Remembers keys until they expire, telling a first use from a replay.
#[async_trait]
pub trait ProofReplay: Send + Sync + std::fmt::Debug {
    /// Records a use of `key`, live until `until`.
    async fn first_use(&self, key: &str, until: UnixSeconds, now: UnixSeconds) -> FirstUse;
}

#[async_trait]
impl ProofReplay for ReplayWindow {
    async fn first_use(&self, key: &str, until: UnixSeconds, now: UnixSeconds) -> FirstUse {
        ReplayWindow::first_use(self, key.to_owned(), until, now)
    }
}
