//! Sender-constrained tokens at the edge (RFC 9449 §7). A token bound to a key (`cnf.jkt`) is
//! accepted only as `Authorization: DPoP` with exactly one `DPoP` proof made with that key for
//! this request: its method, the gateway's external URL (behind trusted proxies, the one they
//! forward), a recent `iat`, the token's hash in `ath`, and a `jti` not seen before. The check
//! runs on every request, after the verified-token cache, so a cached bound token never passes
//! without its proof. A route may require DPoP; an unbound token sent as DPoP is refused.

use crate::authenticate::AuthFailure;
use crate::identity::{AssertedIdentity, TokenBinding};
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use portcullis_core::dpop_nonce::DpopNonces;
use portcullis_jose::dpop::{DpopExpectations, normalize_htu, single_proof};
use portcullis_sdk::{TokenScheme, access_token};
use portcullis_service::ProofReplay;
use portcullis_service::dpop::{ProofRefusal, use_proof};
use std::sync::Arc;

/// The `DPoP` request header.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

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
    nonces: Option<Arc<DpopNonces>>,
}

impl DpopGate {
    /// A gate for clients reaching `origin`, with this clock skew, remembering proofs in `seen`,
    /// requiring `nonces` when given.
    pub fn new(
        origin: RequestOrigin,
        leeway_secs: i64,
        seen: Arc<dyn ProofReplay>,
        nonces: Option<Arc<DpopNonces>>,
    ) -> Self {
        DpopGate {
            origin,
            leeway_secs,
            seen,
            nonces,
        }
    }

    /// Checks that a token bound as `asserted` says was presented with `scheme` as its binding
    /// requires, in `request` at `now`. An unbound bearer token on a route that does not require
    /// DPoP costs nothing more.
    ///
    /// # Errors
    /// [`AuthFailure::DpopRequired`] for a bound token sent as a bearer token, an unbound one
    /// sent as DPoP, a binding the gateway cannot check, or a bearer token on a route that
    /// requires DPoP; [`AuthFailure::InvalidDpopProof`] for a missing, repeated, invalid, foreign
    /// or replayed proof.
    pub async fn check(
        &self,
        asserted: &AssertedIdentity,
        scheme: TokenScheme,
        request: &DpopRequest<'_>,
        now: i64,
    ) -> Result<(), AuthFailure> {
        let required = |why: &str| Err(AuthFailure::DpopRequired(why.to_owned()));
        let invalid = |why: &str| Err(AuthFailure::InvalidDpopProof(why.to_owned()));
        let jkt = match (scheme, &asserted.binding) {
            (TokenScheme::Bearer, TokenBinding::Bearer) if !request.required => return Ok(()),
            (_, TokenBinding::Unsupported) => {
                return required("this token is bound in a way the gateway cannot check");
            }
            (TokenScheme::Bearer, TokenBinding::Bearer) => {
                return required("this route accepts only DPoP-bound tokens");
            }
            // RFC 9449 §7.2: a bound token is not a bearer token.
            (TokenScheme::Bearer, TokenBinding::Dpop(_)) => {
                return required("this token is bound to a key: send it as DPoP with a proof");
            }
            (TokenScheme::Dpop, TokenBinding::Bearer) => {
                return required("this token is not bound to a key");
            }
            (TokenScheme::Dpop, TokenBinding::Dpop(jkt)) => jkt,
        };
        let Ok((_, token)) = access_token(request.headers) else {
            return Err(AuthFailure::Malformed);
        };
        let proof = match single_proof(request.headers.get_all(&DPOP).iter().map(|v| v.as_bytes()))
        {
            Ok(proof) => proof,
            Err(why) => return invalid(why),
        };
        let Some(url) = self.request_url(request) else {
            return invalid("the request URL cannot be determined");
        };
        let expected = DpopExpectations::new(
            request.method.as_str(),
            &url,
            Some(token),
            now,
            self.leeway_secs,
        );
        // RFC 9449 §11.1: a proof is used once.
        let verified =
            match use_proof(self.seen.as_ref(), proof, &expected, self.nonces.as_deref()).await {
                Ok(verified) => verified,
                // RFC 9449 §9: the challenge carries the nonce to retry with.
                Err(ProofRefusal::UseNonce) => {
                    let nonce = self
                        .nonces
                        .as_ref()
                        .map(|nonces| nonces.current(now))
                        .unwrap_or_default();
                    return Err(AuthFailure::UseDpopNonce(nonce));
                }
                Err(refusal) => return invalid(&refusal.to_string()),
            };
        // RFC 9449 §7.1: the proof's key is the one the token is bound to.
        if verified.jkt != *jkt {
            return invalid("the proof is made with another key than the token's");
        }
        Ok(())
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
