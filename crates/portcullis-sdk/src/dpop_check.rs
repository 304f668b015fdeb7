//! DPoP in a resource service (RFC 9449 §7): a token bound to a key (`cnf.jkt`) is accepted only
//! as `Authorization: DPoP` with one fresh proof of that key for this request's method and URL,
//! naming the token (`ath`), used once. A stolen bound token is useless without the key, here as
//! at the gateway. The URL is the one clients address: the configured public URL (for a service
//! behind the gateway, the gateway's), else the request's `Host` over plain http.

use crate::{AuthError, Identity, TokenScheme};
use http::{HeaderMap, Method, Uri, header};
use portcullis_jose::dpop::{DpopExpectations, normalize_htu, single_proof, verify_proof};
use portcullis_jose::replay::{FirstUse, PROOFS_REMEMBERED, ReplayWindow};

/// What a request must prove for a bound token.
#[derive(Debug)]
pub(crate) struct DpopCheck {
    public_origin: Option<String>,
    seen: ReplayWindow,
}

/// The request a proof must name.
pub(crate) struct ProvedRequest<'a> {
    /// Its method.
    pub method: &'a Method,
    /// Its URI (path and query; the query is not part of `htu`).
    pub uri: &'a Uri,
    /// Its headers.
    pub headers: &'a HeaderMap,
}

impl DpopCheck {
    /// A check for requests addressed at `public_origin` (`https://api.example.com`), if given.
    pub(crate) fn new(public_origin: Option<String>) -> Self {
        DpopCheck {
            public_origin: public_origin.map(|origin| origin.trim_end_matches('/').to_owned()),
            seen: ReplayWindow::new(PROOFS_REMEMBERED),
        }
    }

    /// Checks that `identity`'s token, presented with `scheme` as `token`, is presented as its
    /// binding requires in `request` at `now`.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a bound token sent as a bearer token or an unbound one
    /// sent as DPoP; [`AuthError::InvalidDpopProof`] for a missing, invalid, foreign or replayed
    /// proof.
    pub(crate) fn check(
        &self,
        identity: &Identity,
        scheme: TokenScheme,
        token: &str,
        request: &ProvedRequest<'_>,
        (now, leeway_secs): (i64, i64),
    ) -> Result<(), AuthError> {
        let invalid = |why: &str| Err(AuthError::InvalidDpopProof(why.to_owned()));
        let jkt = match (scheme, identity.dpop_jkt()) {
            (TokenScheme::Bearer, None) if !identity.is_sender_constrained() => return Ok(()),
            (TokenScheme::Dpop, Some(jkt)) => jkt,
            // RFC 9449 §7.2: a bound token is not a bearer token.
            (TokenScheme::Bearer, _) => {
                return Err(AuthError::InvalidToken(
                    "this token is bound to a key: send it as DPoP with a proof".into(),
                ));
            }
            (TokenScheme::Dpop, None) => {
                return Err(AuthError::InvalidToken(
                    "this token is not bound to a key (or bound in a way not checked here)".into(),
                ));
            }
        };
        let proof = match single_proof(request.headers.get_all("dpop").iter().map(|v| v.as_bytes()))
        {
            Ok(proof) => proof,
            Err(why) => return invalid(why),
        };
        let Some(url) = self.request_url(request) else {
            return invalid("the request URL cannot be determined");
        };
        let expected =
            DpopExpectations::new(request.method.as_str(), &url, Some(token), now, leeway_secs);
        let verified = match verify_proof(proof, &expected) {
            Ok(verified) => verified,
            Err(error) => return invalid(&error.to_string()),
        };
        // RFC 9449 §7.1: the proof's key is the one the token is bound to.
        if verified.jkt != jkt {
            return invalid("the proof is made with another key than the token's");
        }
        // RFC 9449 §11.1: a proof is used once.
        match self.seen.first_use(
            verified.replay_key(),
            verified.remembered_until(&expected),
            now,
        ) {
            FirstUse::Yes => Ok(()),
            FirstUse::Replayed => invalid("this DPoP proof was used before"),
            FirstUse::Full => invalid("too many DPoP proofs at once; retry with a new one"),
        }
    }

    /// The URL clients sent the request to, normalized as `htu` is compared.
    fn request_url(&self, request: &ProvedRequest<'_>) -> Option<String> {
        let path = request.uri.path();
        let url = match &self.public_origin {
            Some(origin) => format!("{origin}{path}"),
            None => {
                let host = request.headers.get(header::HOST)?.to_str().ok()?;
                // A Host carrying more than an authority would let a client choose the URL.
                if host.contains(['/', '?', '#', '@']) || host.is_empty() {
                    return None;
                }
                format!("http://{host}{path}")
            }
        };
        normalize_htu(&url)
    }
}
