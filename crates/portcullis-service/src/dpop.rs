//! Using a DPoP proof (RFC 9449): verified against what the request must match, then remembered
//! so that it is used once (§11.1), in this process or the cluster's Redis. The token endpoint and
//! the gateway both go through here, so the window and its bookkeeping are the same everywhere.

use crate::ProofReplay;
use portcullis_core::dpop_nonce::DpopNonces;
use portcullis_core::replay::FirstUse;
use portcullis_jose::dpop::{DpopError, DpopExpectations, DpopProof, verify_proof};

/// Why a proof was not used; every variant is an `invalid_dpop_proof` (RFC 9449 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRefusal {
    /// It does not verify or does not match the request.
    #[error(transparent)]
    Invalid(#[from] DpopError),
    /// It was used before.
    #[error("this DPoP proof was used before")]
    Replayed,
    /// The server requires its nonce and the proof has none, or an old or foreign one
    /// (`use_dpop_nonce`, RFC 9449 §8 and §9).
    #[error("this DPoP proof needs the server's current nonce")]
    UseNonce,
    /// Too many live proofs are remembered to take another now.
    #[error("too many DPoP proofs at once; retry with a new one")]
    Full,
}

/// Verifies `proof` against `expected` and uses it: refused if it was used before, or, when the
/// server hands out `nonces`, if it does not carry a valid one. It is remembered one second past
/// the last moment it would be accepted.
///
/// # Errors
/// [`ProofRefusal`].
pub async fn use_proof(
    seen: &dyn ProofReplay,
    proof: &str,
    expected: &DpopExpectations<'_>,
    nonces: Option<&DpopNonces>,
) -> Result<DpopProof, ProofRefusal> {
    let verified = verify_proof(proof, expected)?;
    if let Some(nonces) = nonces
        && !verified
            .nonce
            .as_deref()
            .is_some_and(|nonce| nonces.is_valid(nonce, expected.now))
    {
        return Err(ProofRefusal::UseNonce);
    }
    let until = verified.remembered_until(expected);
    match seen
        .first_use(&verified.replay_key(), until, expected.now)
        .await
    {
        FirstUse::Yes => Ok(verified),
        FirstUse::Replayed => Err(ProofRefusal::Replayed),
        FirstUse::Full => Err(ProofRefusal::Full),
    }
}
