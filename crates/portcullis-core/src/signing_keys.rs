//! The signing-key lifecycle: which key signs, which keys are published, when to rotate.
//!
//! Each algorithm has its own chain of keys ordered by activation time. A key is *pending* from
//! creation until it activates: it is already published in the JWKS, so every verifier that caches
//! the JWKS learns it before the first token signed with it arrives. The newest activated key is
//! *active* and signs. An older key is *retired* when its successor activates and stays published
//! for `retention_secs` more (the longest token lifetime plus leeway), so every token it signed can
//! still be verified; after that it is *expired* and unpublished.

use crate::UnixSeconds;
use portcullis_jose::Algorithm;

/// What is known about a stored key without decrypting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMetadata {
    /// Key id, unique across all algorithms.
    pub kid: String,
    /// The key's only algorithm.
    pub alg: Algorithm,
    /// When the key was generated.
    pub created_at: UnixSeconds,
    /// When the key starts signing.
    pub activates_at: UnixSeconds,
}

/// A stored key: metadata plus the private key sealed under the key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Metadata.
    pub metadata: KeyMetadata,
    /// PKCS#8, sealed with the key id as context.
    pub sealed_private_key: Vec<u8>,
}

/// Where a key is in its life at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published, not yet signing.
    Pending,
    /// Published and signing.
    Active,
    /// Published, no longer signing; unpublished at the given time.
    Retired {
        /// When the key leaves the JWKS.
        unpublish_at: UnixSeconds,
    },
    /// Neither published nor signing.
    Expired,
}

impl KeyStatus {
    /// Whether the key belongs in the JWKS.
    pub fn is_published(self) -> bool {
        !matches!(self, KeyStatus::Expired)
    }

    /// A one-word name for listings.
    pub fn name(self) -> &'static str {
        match self {
            KeyStatus::Pending => "pending",
            KeyStatus::Active => "active",
            KeyStatus::Retired { .. } => "retired",
            KeyStatus::Expired => "expired",
        }
    }
}

/// The timing rules of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLifecyclePolicy {
    /// How long a new key is published before it signs.
    pub prepublish_secs: i64,
    /// How long a retired key stays published.
    pub retention_secs: i64,
    /// Automatic rotation interval; `None` rotates only on request.
    pub rotation_interval_secs: Option<i64>,
}

impl KeyLifecyclePolicy {
    /// The status of each key in `keys` (same order) at `now`.
    pub fn statuses(&self, keys: &[KeyMetadata], now: UnixSeconds) -> Vec<KeyStatus> {
        let mut statuses = vec![KeyStatus::Expired; keys.len()];
        for alg in Algorithm::ALL {
            let chain = chain(keys, alg);
            let active = chain
                .iter()
                .rposition(|&index| keys[index].activates_at <= now);
            for (position, &index) in chain.iter().enumerate() {
                statuses[index] = match active {
                    Some(active) if position == active => KeyStatus::Active,
                    Some(active) if position < active => {
                        let successor = &keys[chain[position + 1]];
                        let unpublish_at = successor.activates_at + self.retention_secs;
                        if now < unpublish_at {
                            KeyStatus::Retired { unpublish_at }
                        } else {
                            KeyStatus::Expired
                        }
                    }
                    _ => KeyStatus::Pending,
                };
            }
        }
        statuses
    }

    /// The index in `keys` of the key that signs for `alg` at `now`.
    pub fn signer(&self, keys: &[KeyMetadata], alg: Algorithm, now: UnixSeconds) -> Option<usize> {
        chain(keys, alg)
            .into_iter()
            .rev()
            .find(|&index| keys[index].activates_at <= now)
    }

    /// When a key generated now for `alg` may start signing: at once if the algorithm has no
    /// key yet (no verifier can hold a stale set), otherwise after the pre-publication period, and
    /// always strictly after the newest existing key, so the signer is never ambiguous.
    pub fn activation_time(
        &self,
        keys: &[KeyMetadata],
        alg: Algorithm,
        now: UnixSeconds,
    ) -> UnixSeconds {
        match chain(keys, alg).last() {
            None => now,
            Some(&newest) => (now + self.prepublish_secs).max(keys[newest].activates_at + 1),
        }
    }

    /// Whether automatic rotation should create a new key for `alg`: the newest key (active or
    /// pending) is older than the rotation interval. A missing key is always due.
    pub fn rotation_due(&self, keys: &[KeyMetadata], alg: Algorithm, now: UnixSeconds) -> bool {
        match chain(keys, alg).last() {
            None => true,
            Some(&newest) => self
                .rotation_interval_secs
                .is_some_and(|interval| keys[newest].activates_at + interval <= now),
        }
    }
}

/// Indexes of the keys of `alg`, oldest activation first.
fn chain(keys: &[KeyMetadata], alg: Algorithm) -> Vec<usize> {
    let mut chain: Vec<usize> = (0..keys.len())
        .filter(|&index| keys[index].alg == alg)
        .collect();
    chain.sort_by(|&a, &b| {
        (keys[a].activates_at, keys[a].created_at, &keys[a].kid).cmp(&(
            keys[b].activates_at,
            keys[b].created_at,
            &keys[b].kid,
        ))
    });
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: KeyLifecyclePolicy = KeyLifecyclePolicy {
        prepublish_secs: 100,
        retention_secs: 1000,
        rotation_interval_secs: Some(5000),
    };

    fn key(kid: &str, alg: Algorithm, activates_at: i64) -> KeyMetadata {
        KeyMetadata {
            kid: kid.into(),
            alg,
            created_at: activates_at - 100,
            activates_at,
        }
    }

    #[test]
    fn a_rotation_walks_through_every_state() {
        let keys = [
            key("old", Algorithm::Es256, 0),
            key("new", Algorithm::Es256, 500),
        ];
        let at = |now| POLICY.statuses(&keys, now);
        assert_eq!(at(450), [KeyStatus::Active, KeyStatus::Pending]);
        assert_eq!(POLICY.signer(&keys, Algorithm::Es256, 499), Some(0));
        assert_eq!(POLICY.signer(&keys, Algorithm::Es256, 500), Some(1));
        assert_eq!(
            at(500),
            [KeyStatus::Retired { unpublish_at: 1500 }, KeyStatus::Active]
        );
        assert_eq!(at(1499)[0], KeyStatus::Retired { unpublish_at: 1500 });
        assert_eq!(at(1500), [KeyStatus::Expired, KeyStatus::Active]);
        assert!(at(450).iter().all(|status| status.is_published()));
        assert!(!at(1500)[0].is_published());
    }

    #[test]
    fn algorithms_rotate_independently() {
        let keys = [
            key("ec1", Algorithm::Es256, 0),
            key("rsa1", Algorithm::Rs256, 0),
            key("ec2", Algorithm::Es256, 10),
        ];
        assert_eq!(POLICY.signer(&keys, Algorithm::Rs256, 20), Some(1));
        assert_eq!(POLICY.signer(&keys, Algorithm::Es256, 20), Some(2));
        assert_eq!(POLICY.signer(&keys, Algorithm::EdDsa, 20), None);
        assert_eq!(POLICY.statuses(&keys, 20)[1], KeyStatus::Active);
    }

    #[test]
    fn activation_and_rotation_timing() {
        assert_eq!(
            POLICY.activation_time(&[], Algorithm::Es256, 7),
            7,
            "first key signs at once"
        );
        let keys = [key("a", Algorithm::Es256, 0)];
        assert_eq!(POLICY.activation_time(&keys, Algorithm::Es256, 7), 107);
        let immediate = KeyLifecyclePolicy {
            prepublish_secs: 0,
            ..POLICY
        };
        assert_eq!(
            immediate.activation_time(&keys, Algorithm::Es256, 0),
            1,
            "never ties with the newest key"
        );
        assert!(POLICY.rotation_due(&[], Algorithm::EdDsa, 0));
        assert!(!POLICY.rotation_due(&keys, Algorithm::Es256, 4999));
        assert!(POLICY.rotation_due(&keys, Algorithm::Es256, 5000));
        let manual = KeyLifecyclePolicy {
            rotation_interval_secs: None,
            ..POLICY
        };
        assert!(!manual.rotation_due(&keys, Algorithm::Es256, 1_000_000));
        let pending = [
            key("a", Algorithm::Es256, 0),
            key("b", Algorithm::Es256, 5100),
        ];
        assert!(
            !POLICY.rotation_due(&pending, Algorithm::Es256, 5050),
            "a pending key is not due"
        );
    }
}
