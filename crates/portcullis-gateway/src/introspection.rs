//! Opaque tokens of issuers that do not mint JWTs: the gateway asks the issuer's RFC 7662
//! introspection endpoint, as a confidential client, and remembers the answer briefly: an
//! active one for at most `cache_secs` (never past the token's `exp`), an inactive one for
//! `negative_cache_secs`. A failed call is never remembered and answers 503. At most
//! [`MAX_CONCURRENT_CALLS`] calls per issuer are in flight, so a flood of made-up tokens cannot
//! turn the gateway against the issuer.

use crate::authenticate::AuthFailure;
use crate::config::IntrospectionConfig;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::token_cache::TokenCache;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Calls in flight per issuer at most; more wait their turn within [`CALL_TIMEOUT`].
const MAX_CONCURRENT_CALLS: usize = 32;
/// Time for one call, waiting for a turn included.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Inactive tokens remembered at most per issuer.
const INACTIVE_ENTRIES: usize = 10_000;

/// One issuer's introspection endpoint and what it said lately about tokens that were inactive.
pub struct Introspector {
    /// The issuer (`iss`) whose tokens these are.
    pub issuer: String,
    config: IntrospectionConfig,
    inactive: TokenCache<()>,
    turns: Semaphore,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
}

/// An active token's identity, and until when the answer may be used.
#[derive(Debug)]
pub struct Introspected {
    /// The identity the answer describes.
    pub identity: Identity,
    /// The answer is used until then.
    pub until: i64,
}

impl Introspector {
    /// An introspector for `issuer`'s tokens.
    pub fn new(
        issuer: String,
        config: IntrospectionConfig,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> Self {
        Introspector {
            issuer,
            config,
            inactive: TokenCache::new(INACTIVE_ENTRIES),
            turns: Semaphore::new(MAX_CONCURRENT_CALLS),
            http,
            metrics,
        }
    }

    /// The prefix of the tokens this issuer is asked about (`None`: any token no other issuer
    /// claims).
    pub fn token_prefix(&self) -> Option<&str> {
        self.config.token_prefix.as_deref()
    }

    /// Whether this issuer is asked about `token`.
    pub fn claims(&self, token: &str) -> bool {
        self.token_prefix()
            .is_none_or(|prefix| token.starts_with(prefix))
    }

    /// Asks about `token` (digest `digest`) at `now`, unless it was called inactive lately.
    ///
    /// # Errors
    /// [`AuthFailure::Invalid`] for an inactive or unusable token,
    /// [`AuthFailure::IntrospectionUnavailable`] when the issuer does not answer properly.
    pub async fn introspect(
        &self,
        token: &str,
        digest: [u8; 32],
        now: i64,
        leeway_secs: i64,
    ) -> Result<Introspected, AuthFailure> {
        let inactive = || AuthFailure::Invalid("token is not active".to_owned());
        if self.inactive.get(&digest, now).is_some() {
            return Err(inactive());
        }
        let answer = match tokio::time::timeout(CALL_TIMEOUT, self.call(token)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                tracing::warn!(issuer = %self.issuer, %error, "introspection failed");
                self.metrics.introspection(&self.issuer, "failure");
                return Err(AuthFailure::IntrospectionUnavailable);
            }
            Err(_) => {
                tracing::warn!(issuer = %self.issuer, "introspection timed out");
                self.metrics.introspection(&self.issuer, "failure");
                return Err(AuthFailure::IntrospectionUnavailable);
            }
        };
        match self.identity(answer, now, leeway_secs) {
            Ok(introspected) => {
                self.metrics.introspection(&self.issuer, "active");
                Ok(introspected)
            }
            Err(reason) => {
                self.metrics.introspection(&self.issuer, "inactive");
                self.inactive
                    .insert(digest, (), now + self.config.negative_cache_secs, now);
                Err(AuthFailure::Invalid(reason.to_owned()))
            }
        }
    }

    /// One call: RFC 7662 §2.1, the token as a form parameter, the gateway authenticated.
    async fn call(&self, token: &str) -> Result<Map<String, Value>, String> {
        let _turn = self
            .turns
            .acquire()
            .await
            .map_err(|error| error.to_string())?;
        let response = self
            .http
            .post(&self.config.url)
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|error| error.without_url().to_string())?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("answered {status}"));
        }
        let body = portcullis_sdk::client::read_limited(response, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&body).map_err(|_| "the answer is not a JSON object".to_owned())
    }

    /// The identity an answer describes, or why the token cannot be used.
    fn identity(
        &self,
        mut answer: Map<String, Value>,
        now: i64,
        leeway_secs: i64,
    ) -> Result<Introspected, &'static str> {
        // RFC 7662 §2.2: `active` is required; anything but `true` is inactive.
        if answer.get("active") != Some(&Value::Bool(true)) {
            return Err("token is not active");
        }
        match answer.get("iss") {
            None => {
                answer.insert("iss".into(), self.issuer.clone().into());
            }
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return Err("token is from another issuer"),
        }
        // An issuer that also answers for refresh tokens (as Portcullis does) says so.
        if answer
            .get("token_type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.eq_ignore_ascii_case("refresh_token"))
        {
            return Err("a refresh token is not an access token");
        }
        let expires_at = match answer.get("exp") {
            None => None,
            Some(exp) => Some(exp.as_i64().ok_or("token expiry is malformed")?),
        };
        if expires_at.is_some_and(|exp| exp + leeway_secs <= now) {
            return Err("token is expired");
        }
        if answer
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf - leeway_secs > now)
        {
            return Err("token is not valid yet");
        }
        let until = expires_at.map_or(now + self.config.cache_secs, |exp| {
            exp.min(now + self.config.cache_secs)
        });
        // The identity's own expiry is the token's; without one, the answer's lifetime.
        answer.entry("exp").or_insert_with(|| Value::from(until));
        // RFC 9068 §2.2's convention: a client's own token is about the client.
        if !answer.contains_key("sub")
            && let Some(client) = answer.get("client_id").cloned()
        {
            answer.insert("sub".into(), client);
        }
        if !answer.contains_key("preferred_username")
            && let Some(username) = answer.get("username").cloned()
        {
            answer.insert("preferred_username".into(), username);
        }
        let identity = Identity::from_claims(&answer).ok_or("token claims cannot be forwarded")?;
        Ok(Introspected { identity, until })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn introspector(prefix: Option<&str>) -> Introspector {
        Introspector::new(
            "https://idp.example".into(),
            IntrospectionConfig {
                url: "https://idp.example/introspect".into(),
                client_id: "gateway".into(),
                client_secret: "secret".into(),
                token_prefix: prefix.map(str::to_owned),
                cache_secs: 30,
                negative_cache_secs: 5,
            },
            reqwest::Client::new(),
            Arc::new(Metrics::default()),
        )
    }

    fn read(answer: Value, now: i64) -> Result<Introspected, &'static str> {
        let answer = answer.as_object().expect("object").clone();
        introspector(None).identity(answer, now, 10)
    }

    #[test]
    fn answers_become_identities_used_briefly() {
        let client_token = read(
            json!({"active": true, "client_id": "svc", "scope": "read", "aud": "api", "exp": 1_100}),
            1_000,
        )
        .expect("active");
        assert_eq!(client_token.identity.subject, "svc", "a client's own token");
        assert_eq!(client_token.identity.issuer, "https://idp.example");
        assert_eq!(client_token.until, 1_030, "at most cache_secs");
        let user_token = read(
            json!({"active": true, "sub": "u1", "username": "ada", "client_id": "app", "exp": 1_010}),
            1_000,
        )
        .expect("active");
        assert_eq!(user_token.identity.username.as_deref(), Some("ada"));
        assert_eq!(user_token.until, 1_010, "never past exp");
        let no_exp = read(json!({"active": true, "sub": "u1"}), 1_000).expect("active");
        assert_eq!((no_exp.until, no_exp.identity.expires_at), (1_030, 1_030));
    }

    #[test]
    fn doubtful_answers_are_inactive() {
        for answer in [
            json!({"active": false, "sub": "u1"}),
            json!({"active": "true", "sub": "u1"}),
            json!({"sub": "u1"}),
            json!({"active": true, "sub": "u1", "iss": "https://other.example"}),
            json!({"active": true, "sub": "u1", "token_type": "refresh_token"}),
            json!({"active": true, "sub": "u1", "exp": 989}),
            json!({"active": true, "sub": "u1", "exp": "later"}),
            json!({"active": true, "sub": "u1", "nbf": 1_011}),
            json!({"active": true, "sub": "u1\r\nx-portcullis-roles: admin"}),
            json!({"active": true}),
        ] {
            assert!(read(answer.clone(), 1_000).is_err(), "{answer}");
        }
    }

    #[test]
    fn prefixes_pick_the_issuer() {
        assert!(introspector(Some("pcl_pat_")).claims("pcl_pat_abc"));
        assert!(!introspector(Some("pcl_pat_")).claims("abc"));
        assert!(introspector(None).claims("abc"));
    }
}
