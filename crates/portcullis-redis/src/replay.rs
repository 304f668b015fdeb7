//! Single-use values shared by a cluster: a DPoP proof's key and `jti` is remembered in Redis by
//! one `SET NX EXAT` (atomic: of two servers seeing the same proof, one sets it), so a proof used
//! at one server or gateway is refused at every other. While Redis cannot answer, each process
//! remembers in memory.

use crate::RedisLink;
use async_trait::async_trait;
use portcullis_core::UnixSeconds;
use portcullis_core::replay::{FirstUse, PROOFS_REMEMBERED, ReplayWindow};
use portcullis_service::ProofReplay;
use std::sync::Arc;

/// The cluster's memory of used proofs, with this process's as the fallback.
pub struct RedisReplay {
    link: Arc<RedisLink>,
    prefix: String,
    local: ReplayWindow,
}

impl std::fmt::Debug for RedisReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplay")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisReplay {
    /// A memory whose keys start with `<prefix>:replay:`.
    pub fn new(link: Arc<RedisLink>, prefix: &str) -> Self {
        RedisReplay {
            link,
            prefix: format!("{prefix}:replay:"),
            local: ReplayWindow::new(PROOFS_REMEMBERED),
        }
    }

    /// The Redis key of a value: hashed, so any value names a short, plain key.
    fn key(&self, value: &str) -> String {
        let digest = portcullis_jose::sha256(value.as_bytes());
        format!(
            "{}{}",
            self.prefix,
            portcullis_jose::base64url::encode(digest)
        )
    }
}

#[async_trait]
impl ProofReplay for RedisReplay {
    async fn first_use(&self, key: &str, until: UnixSeconds, now: UnixSeconds) -> FirstUse {
        let local = || self.local.first_use(key.to_owned(), until, now);
        let Ok(mut connection) = self.link.connection().await else {
            return local();
        };
        let stored: Result<Option<String>, _> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(1)
            .arg("NX")
            .arg("EXAT")
            .arg(until.max(now + 1))
            .query_async(&mut connection)
            .await;
        match stored {
            Ok(Some(_)) => FirstUse::Yes,
            Ok(None) => FirstUse::Replayed,
            Err(error) => {
                tracing::warn!(%error, "Redis unavailable for DPoP replay; remembering locally");
                self.link.failed();
                local()
            }
        }
    }
}
