//! Sender-constrained tokens at the edge (RFC 9449 §7). A token bound to a key (`cnf.jkt`) is
//! accepted only as `Authorization: DPoP` with exactly one `DPoP` proof made with that key for
//! this request: its method, the gateway's external URL (behind trusted proxies, the one they
//! forward), a recent `iat`, the token's hash in `ath`, and a `jti` not seen before. The check
//! runs on every request, after the verified-token cache, so a cached bound token never passes
//! without its proof. A route may require DPoP; an unbound token sent as DPoP is refused.

use crate::authenticate::AuthFailure;
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use portcullis_core::replay::FirstUse;
use portcullis_jose::dpop::{DpopExpectations, normalize_htu, verify_proof};
use portcullis_sdk::{Identity, TokenScheme, access_token};
use portcullis_service::ProofReplay;
use std::sync::Arc;

/// The `DPoP` request header.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// How old a proof may be.
const MAX_PROOF_AGE_SECS: i64 = 60;

/// What the check needs of the request.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its method.
    pub method: &'a Method,
    /// Its target (the normalized path).
    pub uri: &'a Uri,
    /// Whether the peer is a trusted proxy, whose `X-Forwarded-Proto`/`-Host` name the URL.
    pub peer_trusted: bool,
    /// Whether the route accepts only DPoP-bound tokens.
    pub required: bool,
}

/// Where clients reach the gateway: the origin DPoP proofs name.
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    /// The public listener speaks TLS.
    pub https: bool,
    /// The configured origin (`https://api.example.com`, normalized, no trailing `/`); when
    /// set, it alone counts, whatever the request's `Host` or forwarded headers say.
    pub public: Option<String>,
}

/// Checks DPoP proofs, remembering their `jti`s for replay detection (in memory, or in the
/// cluster's Redis).
pub struct DpopGate {
    origin: RequestOrigin,
    leeway_secs: i64,
    seen: Arc<dyn ProofReplay>,
}

impl DpopGate {
    /// A gate for clients reaching `origin`, with this clock skew, remembering proofs in `seen`.
    pub fn new(origin: RequestOrigin, leeway_secs: i64, seen: Arc<dyn ProofReplay>) -> Self {
        DpopGate {
            origin,
            leeway_secs,
            seen,
        }
    }

    /// Checks how `identity`'s token was presented in `request` at `now`.
    ///
    /// # Errors
    /// [`AuthFailure::DpopRequired`] for a bound token sent as a bearer token, an unbound one
    /// sent as DPoP, or a bearer token on a route that requires DPoP;
    /// [`AuthFailure::InvalidDpopProof`] for a missing, repeated, invalid, foreign or replayed
    /// proof.
    pub async fn check(
        &self,
        identity: &Identity,
        request: &DpopRequest<'_>,
        now: i64,
    ) -> Result<(), AuthFailure> {
        let required = |why: &str| Err(AuthFailure::DpopRequired(why.to_owned()));
        let invalid = |why: &str| Err(AuthFailure::InvalidDpopProof(why.to_owned()));
        let Ok((scheme, token)) = access_token(request.headers) else {
            return Err(AuthFailure::Malformed);
        };
        // A binding other than a DPoP key (a certificate, a malformed `cnf`) cannot be proved here.
        if identity.is_sender_constrained() && identity.dpop_jkt().is_none() {
            return required("this token is bound in a way the gateway cannot check");
        }
        let jkt = match (scheme, identity.dpop_jkt()) {
            (TokenScheme::Bearer, None) if !request.required => return Ok(()),
            (TokenScheme::Bearer, None) => {
                return required("this route accepts only DPoP-bound tokens");
            }
            // RFC 9449 §7.2: a bound token is not a bearer token.
            (TokenScheme::Bearer, Some(_)) => {
                return required("this token is bound to a key: send it as DPoP with a proof");
            }
            (TokenScheme::Dpop, None) => return required("this token is not bound to a key"),
            (TokenScheme::Dpop, Some(jkt)) => jkt,
        };
        // RFC 9449 §4.3 (1): exactly one DPoP header.
        let mut proofs = request.headers.get_all(&DPOP).iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return invalid("send exactly one DPoP proof");
        };
        let Ok(proof) = proof.to_str() else {
            return invalid("the proof is not text");
        };
        let Some(url) = self.request_url(request) else {
            return invalid("the request URL cannot be determined");
        };
        let expected = DpopExpectations {
            method: request.method.as_str(),
            url: &url,
            now,
            max_age_secs: MAX_PROOF_AGE_SECS,
            leeway_secs: self.leeway_secs,
            access_token: Some(token),
        };
        let verified = match verify_proof(proof, &expected) {
            Ok(verified) => verified,
            Err(error) => return invalid(&error.to_string()),
        };
        // RFC 9449 §7.1: the proof's key is the one the token is bound to.
        if verified.jkt != jkt {
            return invalid("the proof is made with another key than the token's");
        }
        // RFC 9449 §11.1: a proof is used once.
        // Remembered one second past the last moment it is accepted.
        let until = verified.iat + MAX_PROOF_AGE_SECS + self.leeway_secs.max(0) + 1;
        let key = format!("{jkt}:{}", verified.jti);
        match self.seen.first_use(&key, until, now).await {
            FirstUse::Yes => Ok(()),
            FirstUse::Replayed => invalid("this proof was used before"),
            FirstUse::Full => invalid("too many proofs at once; retry with a new one"),
        }
    }

    /// The URL the client sent the request to: the configured public origin; otherwise, behind
    /// a trusted proxy, the scheme and host the nearest one forwards (the last value of each
    /// list); otherwise this listener's scheme and the request's host. A host that is not a
    /// plain authority (a path, a query, user information) gives none.
    fn request_url(&self, request: &DpopRequest<'_>) -> Option<String> {
        let path = request.uri.path();
        if let Some(origin) = &self.origin.public {
            return Some(format!("{origin}{path}"));
        }
        let forwarded = |name: &HeaderName| {
            request
                .peer_trusted
                .then(|| request.headers.get(name)?.to_str().ok())
                .flatten()
                .and_then(|value| value.rsplit(',').next())
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let listener = if self.origin.https { "https" } else { "http" };
        let scheme = forwarded(&X_FORWARDED_PROTO).unwrap_or(listener);
        let host = match forwarded(&X_FORWARDED_HOST) {
            Some(host) => host,
            None => match request.headers.get(header::HOST) {
                Some(host) => host.to_str().ok()?,
                None => request.uri.authority()?.as_str(),
            },
        };
        // Only an authority: a Host such as `other.example/any/path?` would move the path.
        if host.contains(['/', '?', '#', '@', '\\']) || !matches!(scheme, "http" | "https") {
            return None;
        }
        normalize_htu(&format!("{scheme}://{host}{path}"))
    }
}
