//! Identifying the caller of a request: by verifying its bearer token (default) or, for services
//! that only the gateway can reach, by trusting the gateway's identity headers.

use crate::{AuthError, BearerError, Identity, bearer_token};
use http::HeaderMap;
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

    /// Identifies the caller of a request with these headers, at Unix time `now`.
    ///
    /// # Errors
    /// [`AuthError`]: missing, malformed or invalid token; keys unavailable.
    pub async fn identify(&self, headers: &HeaderMap, now: i64) -> Result<Identity, AuthError> {
        match &self.mode {
            Mode::TrustGatewayHeaders => {
                Identity::from_gateway_headers(headers).ok_or(AuthError::MissingToken)
            }
            Mode::VerifyTokens { keys, leeway_secs } => {
                let token = bearer_token(headers).map_err(|error| match error {
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
                // A token bound to a key (RFC 9449) is good only with a proof of that key, which
                // the gateway checks; presented here as a plain bearer token, it is refused.
                if identity.is_sender_constrained() {
                    return Err(AuthError::InvalidToken(
                        "this token is bound to a key (DPoP); present it through the gateway"
                            .into(),
                    ));
                }
                Ok(identity)
            }
        }
    }
}
