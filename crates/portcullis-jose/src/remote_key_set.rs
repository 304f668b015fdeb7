//! The verification keys of one issuer, shared by the gateway and the SDK: loaded from its
//! discovery document, a JWKS URL or a local file; kept when the issuer is unreachable; refetched
//! when a token names an unknown `kid`, but at most once per `min_interval`, so tokens with random
//! kids cannot cause a fetch storm.

use crate::http_answer::{read_limited, transport_error};
use crate::{
    AccessTokenValidation, JoseError, KeySet, UnverifiedJws, ValidatedToken, ValidationError,
};
use portcullis_types::{JwkSet, ProviderMetadata};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The largest key set or discovery document read (both are a few KB).
const MAX_KEY_SET_BYTES: usize = 256 * 1024;

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// RFC 8414 discovery at the issuer, then its `jwks_uri`.
    Discovery,
    /// A JWKS URL.
    JwksUrl(String),
    /// A local JWKS file.
    File(PathBuf),
}

/// Why a token could not be validated against a remote key set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteValidationError {
    /// The issuer's keys were never obtained.
    #[error("the issuer's keys are not available")]
    KeysUnavailable,
    /// The token is not valid.
    #[error(transparent)]
    Invalid(ValidationError),
}

/// Called after every fetch with the issuer and whether it succeeded (for metrics).
pub type FetchObserver = Arc<dyn Fn(&str, bool) + Send + Sync>;

/// One issuer's keys.
pub struct RemoteKeySet {
    /// The issuer identifier.
    pub issuer: String,
    /// An audience every token must carry.
    pub audience: Option<String>,
    source: KeySource,
    keys: RwLock<Arc<KeySet>>,
    loaded: AtomicBool,
    last_attempt: Mutex<Option<Instant>>,
    min_interval: Duration,
    http: reqwest::Client,
    observer: Option<FetchObserver>,
}

impl std::fmt::Debug for RemoteKeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeySet")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl RemoteKeySet {
    /// An issuer with no keys yet; call [`RemoteKeySet::refresh`] to load them.
    pub fn new(
        issuer: String,
        audience: Option<String>,
        source: KeySource,
        min_interval: Duration,
        http: reqwest::Client,
        observer: Option<FetchObserver>,
    ) -> Self {
        RemoteKeySet {
            issuer,
            audience,
            source,
            keys: RwLock::new(Arc::new(KeySet::default())),
            loaded: AtomicBool::new(false),
            last_attempt: Mutex::new(None),
            min_interval,
            http,
            observer,
        }
    }

    /// The current keys.
    pub fn current(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether keys were ever loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Loads the keys now. On failure the previous keys stay in use.
    ///
    /// # Errors
    /// Why the keys could not be loaded.
    pub async fn refresh(&self) -> Result<(), String> {
        let mut last_attempt = self.last_attempt.lock().await;
        *last_attempt = Some(Instant::now());
        self.fetch_and_store().await
    }

    /// Refetches for an unknown `kid`, unless a fetch happened within `min_interval`. Concurrent
    /// callers wait for one fetch instead of starting their own.
    pub async fn refresh_for_unknown_kid(&self) {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_some_and(|at| at.elapsed() < self.min_interval) {
            return;
        }
        *last_attempt = Some(Instant::now());
        if let Err(error) = self.fetch_and_store().await {
            tracing::warn!(issuer = %self.issuer, %error, "JWKS refetch failed; keeping cached keys");
        }
    }

    /// Validates an access token of this issuer at `now`. Keys that were never loaded are
    /// fetched first; an unknown `kid` (a rotated key) triggers one rate-limited refetch and a
    /// second attempt.
    ///
    /// # Errors
    /// [`RemoteValidationError::KeysUnavailable`] when no key was ever obtained (not the
    /// caller's fault), else the validation failure.
    pub async fn validate_access_token(
        &self,
        token: &str,
        leeway_secs: i64,
        now: i64,
    ) -> Result<ValidatedToken, RemoteValidationError> {
        // Without keys the answer is "unavailable" whatever the token looks like.
        self.ensure_loaded().await?;
        let jws = UnverifiedJws::parse(token)
            .map_err(|error| RemoteValidationError::Invalid(error.into()))?;
        self.validate_parsed(&jws, leeway_secs, now).await
    }

    /// Validates an already parsed access token, as [`RemoteKeySet::validate_access_token`]
    /// does.
    ///
    /// # Errors
    /// As [`RemoteKeySet::validate_access_token`].
    pub async fn validate_parsed(
        &self,
        jws: &UnverifiedJws<'_>,
        leeway_secs: i64,
        now: i64,
    ) -> Result<ValidatedToken, RemoteValidationError> {
        self.ensure_loaded().await?;
        let validation = AccessTokenValidation {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_secs,
        };
        let result = match validation.validate_jws(jws, &self.current(), now) {
            Err(ValidationError::Jose(JoseError::HeaderRejected("unknown kid"))) => {
                self.refresh_for_unknown_kid().await;
                validation.validate_jws(jws, &self.current(), now)
            }
            other => other,
        };
        result.map_err(RemoteValidationError::Invalid)
    }

    /// Fetches keys that were never loaded (rate limited like an unknown `kid`).
    async fn ensure_loaded(&self) -> Result<(), RemoteValidationError> {
        if !self.is_loaded() {
            self.refresh_for_unknown_kid().await;
            if !self.is_loaded() {
                return Err(RemoteValidationError::KeysUnavailable);
            }
        }
        Ok(())
    }

    async fn fetch_and_store(&self) -> Result<(), String> {
        let result = self.fetch().await;
        if let Some(observer) = &self.observer {
            observer(&self.issuer, result.is_ok());
        }
        let jwks = result?;
        let keys = KeySet::from_jwks(&jwks);
        if keys.is_empty() {
            return Err("the JWKS has no usable keys".to_owned());
        }
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(keys);
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        match &self.source {
            KeySource::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                serde_json::from_str(&text).map_err(|error| format!("{}: {error}", path.display()))
            }
            KeySource::JwksUrl(url) => self.get_json(url).await,
            KeySource::Discovery => {
                let url = format!(
                    "{}/.well-known/oauth-authorization-server",
                    self.issuer.trim_end_matches('/')
                );
                let metadata: ProviderMetadata = self.get_json(&url).await?;
                // RFC 8414 §3.3: the metadata must name exactly this issuer.
                if metadata.issuer != self.issuer {
                    return Err(format!("discovery names issuer `{}`", metadata.issuer));
                }
                self.get_json(&metadata.jwks_uri).await
            }
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|error| format!("{url}: {}", transport_error(error)))?;
        if !response.status().is_success() {
            return Err(format!("{url}: status {}", response.status()));
        }
        let body = read_limited(response, MAX_KEY_SET_BYTES)
            .await
            .map_err(|error| format!("{url}: {error}"))?;
        serde_json::from_slice(&body).map_err(|error| format!("{url}: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key set URL served on loopback: `body` at `/jwks`.
    async fn serve(body: String) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let address = listener.local_addr().expect("address");
        let app = axum::Router::new().route("/jwks", axum::routing::get(move || async { body }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/jwks")
    }

    fn key_set(url: String) -> RemoteKeySet {
        RemoteKeySet::new(
            "https://issuer.example".to_owned(),
            None,
            KeySource::JwksUrl(url),
            Duration::from_secs(30),
            reqwest::Client::new(),
            None,
        )
    }

    #[tokio::test]
    async fn a_key_set_larger_than_the_bound_is_refused_not_held() {
        let key = crate::SigningKey::generate(crate::Algorithm::Es256, "k1".to_owned())
            .expect("key")
            .public_jwk();
        let keys = serde_json::to_string(&serde_json::json!({ "keys": [key] })).expect("json");
        let usable = key_set(serve(keys.clone()).await);
        assert_eq!(usable.refresh().await, Ok(()));
        // The same keys, padded past the bound with whitespace (still valid JSON).
        let padded = format!("{keys}{}", " ".repeat(MAX_KEY_SET_BYTES));
        let huge = key_set(serve(padded).await);
        let refused = huge.refresh().await.expect_err("too large");
        assert!(refused.contains("larger than"), "{refused}");
        assert!(!huge.is_loaded());
    }
}
