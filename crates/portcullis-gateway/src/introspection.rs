//! Opaque tokens of issuers that do not mint JWTs: the gateway asks the issuer's RFC 7662
//! introspection endpoint, as a confidential client, and remembers the answer briefly: an
//! active one for at most `cache_secs` (never past the token's `exp`), an inactive one for
//! `negative_cache_secs`. A failed call is never remembered and answers 503. Requests with the
//! same token share one call; at most [`MAX_CONCURRENT_CALLS`] calls per issuer are in flight and
//! a request waits [`TURN_WAIT`] at most for one (then 503), so a flood of made-up tokens cannot
//! turn the gateway against the issuer or queue real ones for long.

use crate::authenticate::AuthFailure;
use crate::config::IntrospectionConfig;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::token_cache::TokenCache;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OnceCell, Semaphore};

/// Calls in flight per issuer at most.
const MAX_CONCURRENT_CALLS: usize = 32;
/// The longest a request waits for a call to be free.
const TURN_WAIT: Duration = Duration::from_millis(500);
/// Time for one call.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// The members of an answer the gateway keeps (what identities and policies read): a cached
/// answer holds nothing else.
const KEPT_MEMBERS: [&str; 16] = [
    "iss",
    "sub",
    "client_id",
    "scope",
    "roles",
    "aud",
    "jti",
    "sid",
    "exp",
    "acr",
    "amr",
    "auth_time",
    "cnf",
    "preferred_username",
    "username",
    portcullis_core::personal_access_token::NETWORKS_MEMBER,
];
/// Inactive tokens remembered at most per issuer.
const INACTIVE_ENTRIES: usize = 10_000;

/// The answer of one call (or why there is none), for every request waiting on it.
type SharedCall = OnceCell<Result<Map<String, Value>, String>>;

/// A request waiting on a shared call; when it ends, the call leaves the map (unless a newer
/// call for the same token took its place).
struct Waiting<'a> {
    in_flight: &'a Mutex<HashMap<[u8; 32], Arc<SharedCall>>>,
    digest: [u8; 32],
    cell: Arc<SharedCall>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if in_flight
            .get(&self.digest)
            .is_some_and(|cell| Arc::ptr_eq(cell, &self.cell))
        {
            in_flight.remove(&self.digest);
        }
    }
}

/// One issuer's introspection endpoint and what it said lately about tokens that were inactive.
pub struct Introspector {
    /// The issuer (`iss`) whose tokens these are.
    pub issuer: String,
    config: IntrospectionConfig,
    inactive: TokenCache<()>,
    turns: Semaphore,
    /// Calls in flight by token digest, shared by the requests that carry that token.
    in_flight: Mutex<HashMap<[u8; 32], Arc<SharedCall>>>,
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
            in_flight: Mutex::new(HashMap::new()),
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
        let answer = match self.shared_call(token, digest).await {
            Ok(answer) => answer,
            Err(error) => {
                tracing::debug!(issuer = %self.issuer, %error, "introspection failed");
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

    /// The answer about `token`, from the call in flight for it if there is one. The entry goes
    /// when a request that waited on it ends, answered or dropped (a client that hung up), so
    /// the map holds only calls someone still waits for.
    async fn shared_call(
        &self,
        token: &str,
        digest: [u8; 32],
    ) -> Result<Map<String, Value>, String> {
        let cell = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(digest)
            .or_default()
            .clone();
        let _waiting = Waiting {
            in_flight: &self.in_flight,
            digest,
            cell: cell.clone(),
        };
        cell.get_or_init(|| self.call(token)).await.clone()
    }

    /// One call: RFC 7662 §2.1, the token as a form parameter, the gateway authenticated.
    async fn call(&self, token: &str) -> Result<Map<String, Value>, String> {
        let _turn = tokio::time::timeout(TURN_WAIT, self.turns.acquire())
            .await
            .map_err(|_| "every call to the issuer is busy".to_owned())?
            .map_err(|error| error.to_string())?;
        tokio::time::timeout(CALL_TIMEOUT, self.send(token))
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    async fn send(&self, token: &str) -> Result<Map<String, Value>, String> {
        let (id, secret) = portcullis_sdk::client::basic_credentials(
            &self.config.client_id,
            &self.config.client_secret,
        );
        let response = self
            .http
            .post(&self.config.url)
            .basic_auth(id, Some(secret))
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
        let answer: Map<String, Value> = serde_json::from_slice(&body)
            .map_err(|_| "the answer is not a JSON object".to_owned())?;
        // `active` and the type members are read before the rest is dropped.
        let kept: Map<String, Value> = answer
            .iter()
            .filter(|(name, _)| {
                KEPT_MEMBERS.contains(&name.as_str())
                    || ["active", "token_type", "token_use", "typ", "nbf"].contains(&name.as_str())
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(kept)
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
        if !is_access_token(&answer) {
            return Err("the token is not an access token");
        }
        let time = |name: &str| match answer.get(name) {
            None => Ok(None),
            Some(value) => value.as_i64().map(Some).ok_or("token times are malformed"),
        };
        let expires_at = time("exp")?;
        if expires_at.is_some_and(|exp| exp.saturating_add(leeway_secs) <= now) {
            return Err("token is expired");
        }
        if time("nbf")?.is_some_and(|nbf| nbf.saturating_sub(leeway_secs) > now) {
            return Err("token is not valid yet");
        }
        let cached_until = now.saturating_add(self.config.cache_secs);
        let until = expires_at.map_or(cached_until, |exp| exp.min(cached_until));
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
        answer.retain(|name, _| KEPT_MEMBERS.contains(&name.as_str()));
        let identity = Identity::from_claims(&answer).ok_or("token claims cannot be forwarded")?;
        Ok(Introspected { identity, until })
    }
}

/// Whether an answer describes an access token. RFC 7662 §2.2's `token_type` is the RFC 6749
/// §7.1 type (`Bearer`, `DPoP`, `N_A`); issuers that answer for refresh tokens too say so there
/// (Portcullis: `refresh_token`), in `token_use` (Ory Hydra) or in `typ` (Keycloak: `Refresh`,
/// `Offline`).
fn is_access_token(answer: &Map<String, Value>) -> bool {
    let text = |name: &str| answer.get(name).map(|value| value.as_str().unwrap_or("?"));
    let token_type_fits = text("token_type").is_none_or(|kind| {
        ["bearer", "dpop", "n_a"]
            .iter()
            .any(|fit| kind.eq_ignore_ascii_case(fit))
    });
    let use_fits = text("token_use").is_none_or(|kind| kind == "access_token");
    let typ_fits = text("typ").is_none_or(|typ| {
        !["refresh", "offline"]
            .iter()
            .any(|refused| typ.eq_ignore_ascii_case(refused))
    });
    token_type_fits && use_fits && typ_fits
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
        let far = read(
            json!({"active": true, "sub": "u1", "token_type": "DPoP", "exp": i64::MAX, "extra": "x".repeat(100)}),
            1_000,
        )
        .expect("active");
        assert_eq!(far.until, 1_030, "no overflow");
        assert!(
            far.identity.claims.get("extra").is_none(),
            "only the members used are kept"
        );
    }

    #[test]
    fn doubtful_answers_are_inactive() {
        for answer in [
            json!({"active": false, "sub": "u1"}),
            json!({"active": "true", "sub": "u1"}),
            json!({"sub": "u1"}),
            json!({"active": true, "sub": "u1", "iss": "https://other.example"}),
            json!({"active": true, "sub": "u1", "token_type": "refresh_token"}),
            json!({"active": true, "sub": "u1", "token_use": "refresh_token"}),
            json!({"active": true, "sub": "u1", "typ": "Refresh"}),
            json!({"active": true, "sub": "u1", "exp": i64::MAX, "nbf": i64::MIN + 1, "token_type": "mac"}),
            json!({"active": true, "sub": "u1", "nbf": "soon"}),
            json!({"active": true, "sub": "u1", "exp": 989}),
            json!({"active": true, "sub": "u1", "exp": "later"}),
            json!({"active": true, "sub": "u1", "nbf": 1_011}),
            json!({"active": true, "sub": "u1\r\nx-portcullis-roles: admin"}),
            json!({"active": true}),
        ] {
            assert!(read(answer.clone(), 1_000).is_err(), "{answer}");
        }
    }

    #[tokio::test]
    async fn a_request_that_hangs_up_leaves_no_call_behind() {
        // An issuer that accepts connections and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = silent.local_addr().expect("address");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = silent.accept().await {
                held.push(stream);
            }
        });
        let mut introspector = introspector(None);
        introspector.config.url = format!("http://{address}/introspect");
        let waiting = introspector.introspect("opaque", [7; 32], 1_000, 0);
        let gave_up = tokio::time::timeout(Duration::from_millis(200), waiting).await;
        assert!(gave_up.is_err(), "still waiting");
        let in_flight = introspector.in_flight.lock().expect("lock").len();
        assert_eq!(in_flight, 0, "the call left with its last waiter");
    }

    #[test]
    fn basic_credentials_are_form_encoded() {
        assert_eq!(
            portcullis_sdk::client::basic_credentials("a b", "p+w:%"),
            ("a+b".to_owned(), "p%2Bw%3A%25".to_owned())
        );
    }

    #[test]
    fn prefixes_pick_the_issuer() {
        assert!(introspector(Some("pcl_pat_")).claims("pcl_pat_abc"));
        assert!(!introspector(Some("pcl_pat_")).claims("abc"));
        assert!(introspector(None).claims("abc"));
    }
}
