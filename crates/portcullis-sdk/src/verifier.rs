//! Identifying the caller of a request: by verifying its bearer token (default) or, for services
//! that only the gateway can reach, by trusting the gateway's identity headers.

use crate::dpop_check::{DpopCheck, ProvedRequest};
use crate::{AuthError, BearerError, Identity, TokenScheme, access_token};
use http::{HeaderMap, Method, Uri};
use portcullis_jose::remote_key_set::{KeySource, RemoteKeySet, RemoteValidationError};
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;

/// A verifier could not be set up.
#[derive(Debug, Error)]
#[error("cannot set up token verification: {0}")]
pub struct VerifierError(String);

enum Mode {
    VerifyTokens {
        keys: Box<RemoteKeySet>,
        leeway_secs: i64,
        dpop: DpopCheck,
    },
    TrustGatewayHeaders,
}

/// Identifies callers.
pub struct Verifier {
    mode: Mode,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::VerifyTokens { keys, .. } => f
                .debug_struct("Verifier")
                .field("issuer", &keys.issuer)
                .finish(),
            Mode::TrustGatewayHeaders => f.write_str("Verifier(trust gateway headers)"),
        }
    }
}

impl Verifier {
    /// Verifies tokens of `issuer` (keys from its discovery document), requiring `audience` if
    /// given. Keys are loaded now when possible; if the issuer is down, requests get 503 until
    /// they can be loaded.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub async fn for_issuer(issuer: &str, audience: Option<&str>) -> Result<Self, VerifierError> {
        Self::with_source(issuer, audience, KeySource::Discovery).await
    }

    /// Verifies tokens of `issuer` with keys from a local JWKS file.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub async fn from_jwks_file(
        issuer: &str,
        audience: Option<&str>,
        path: PathBuf,
    ) -> Result<Self, VerifierError> {
        Self::with_source(issuer, audience, KeySource::File(path)).await
    }

    async fn with_source(
        issuer: &str,
        audience: Option<&str>,
        source: KeySource,
    ) -> Result<Self, VerifierError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|error| VerifierError(error.to_string()))?;
        let keys = RemoteKeySet::new(
            issuer.trim_end_matches('/').to_owned(),
            audience.map(str::to_owned),
            source,
            Duration::from_secs(30),
            http,
            None,
        );
        // Best effort: an unreachable issuer is retried on the first request.
        let _ = keys.refresh().await;
        Ok(Verifier {
            mode: Mode::VerifyTokens {
                keys: Box::new(keys),
                leeway_secs: 30,
                dpop: DpopCheck::new(None),
            },
        })
    }

    /// Trusts the `X-Portcullis-*` headers the gateway sets, without verifying anything. Use only
    /// when the service is reachable from the gateway alone: anyone who can reach it directly can
    /// claim any identity.
    pub fn trust_gateway_headers() -> Self {
        Verifier {
            mode: Mode::TrustGatewayHeaders,
        }
    }

    /// The same verifier for a service that clients reach at `origin` (`https://api.example.com`;
    /// behind the gateway, the gateway's public URL): the URL DPoP proofs must name. Without it,
    /// the request's `Host` over plain http.
    #[must_use]
    pub fn with_public_url(mut self, origin: &str) -> Self {
        if let Mode::VerifyTokens { dpop, .. } = &mut self.mode {
            *dpop = DpopCheck::new(Some(origin.to_owned()));
        }
        self
    }

    /// Identifies the caller of a request with these headers, at Unix time `now`. Without the
    /// request's method and URI, a DPoP-bound token cannot be checked and is refused: use
    /// [`Verifier::identify_request`] (as the layer and the extractor do) to accept them.
    ///
    /// # Errors
    /// [`AuthError`]: missing, malformed or invalid token; keys unavailable.
    pub async fn identify(&self, headers: &HeaderMap, now: i64) -> Result<Identity, AuthError> {
        self.identify_inner(headers, None, now).await
    }

    /// Identifies the caller of a request (`method`, `uri`, `headers`) at Unix time `now`: a
    /// bearer token, or a DPoP-bound token with a valid proof for this request (RFC 9449 §7).
    ///
    /// # Errors
    /// [`AuthError`]: missing, malformed or invalid token or proof; keys unavailable.
    pub async fn identify_request(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Identity, AuthError> {
        self.identify_inner(headers, Some((method, uri)), now).await
    }

    async fn identify_inner(
        &self,
        headers: &HeaderMap,
        request: Option<(&Method, &Uri)>,
        now: i64,
    ) -> Result<Identity, AuthError> {
        match &self.mode {
            Mode::TrustGatewayHeaders => {
                Identity::from_gateway_headers(headers).ok_or(AuthError::MissingToken)
            }
            Mode::VerifyTokens {
                keys,
                leeway_secs,
                dpop,
            } => {
                let (scheme, token) = access_token(headers).map_err(|error| match error {
                    BearerError::Missing => AuthError::MissingToken,
                    BearerError::Malformed => AuthError::MalformedRequest,
                })?;
                let validated = keys
                    .validate_access_token(token, *leeway_secs, now)
                    .await
                    .map_err(|error| match error {
                        RemoteValidationError::KeysUnavailable => AuthError::Unavailable,
                        RemoteValidationError::Invalid(error) => {
                            AuthError::InvalidToken(error.to_string())
                        }
                    })?;
                let identity = Identity::from_claims(&validated.claims)
                    .ok_or_else(|| AuthError::InvalidToken("token claims are unusable".into()))?;
                let Some((method, uri)) = request else {
                    // No request to prove: only a plain bearer token will do.
                    if scheme == TokenScheme::Dpop || identity.is_sender_constrained() {
                        return Err(AuthError::InvalidToken(
                            "this token is bound to a key (DPoP); its proof cannot be checked here"
                                .into(),
                        ));
                    }
                    return Ok(identity);
                };
                let proved = ProvedRequest {
                    method,
                    uri,
                    headers,
                };
                dpop.check(&identity, scheme, token, &proved, (now, *leeway_secs))?;
                Ok(identity)
            }
        }
    }
}
