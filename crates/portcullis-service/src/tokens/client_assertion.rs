//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OpenID Connect Core §9): the
//! client signs a short-lived JWT with one of its registered keys, naming itself (`iss`, `sub`),
//! this server (`aud`) and a unique `jti`. The key decides the algorithm; each `jti` is used once.

use crate::ProofReplay;
use async_trait::async_trait;
use portcullis_core::replay::FirstUse;
use portcullis_core::{ClientKeys, UnixSeconds};
use portcullis_jose::{KeySet, UnverifiedJws};
use serde::Deserialize;
use std::sync::Arc;

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The furthest in the future an assertion's `exp` may be: its `jti` is remembered until then.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;
/// The longest `jti` accepted.
const MAX_JTI_LENGTH: usize = 256;

/// Where a client's registered keys are read: given by value, or fetched from its `jwks_uri`.
#[async_trait]
pub trait ClientKeyResolver: Send + Sync {
    /// The keys. `refetch` asks for a fresh copy of remote keys (the assertion names a key not
    /// in the copy at hand); implementations may limit how often they fetch.
    ///
    /// # Errors
    /// Why the keys could not be had (for the audit record).
    async fn keys(&self, keys: &ClientKeys, refetch: bool) -> Result<Arc<KeySet>, String>;
}

/// What an assertion must name, and when it is checked.
#[derive(Debug, Clone, Copy)]
pub struct AssertionContext<'a> {
    /// This server's issuer identifier, the one `aud` value accepted.
    pub issuer: &'a str,
    /// Now.
    pub now: UnixSeconds,
    /// Clock skew allowed, in seconds.
    pub leeway_secs: i64,
}

#[derive(Deserialize)]
struct AssertionClaims {
    /// Members of an authorization request: a request object (RFC 9101) is never a client
    /// assertion, though it may name the same issuer, subject and audience.
    response_type: Option<serde_json::Value>,
    client_id: Option<serde_json::Value>,
    redirect_uri: Option<serde_json::Value>,
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<portcullis_jose::Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

/// The client an assertion names (`sub`), read without verification to find its keys; `None`
/// when it is not a readable JWT.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    let jws = UnverifiedJws::parse(assertion).ok()?;
    serde_json::from_slice::<AssertionClaims>(jws.unverified_payload())
        .ok()?
        .sub
}

/// Verifies `assertion` as client `client_id`'s authentication with `keys`, and uses its `jti`.
///
/// # Errors
/// Why it was refused, for the audit record (the client only ever sees `invalid_client`).
pub async fn verify_client_assertion(
    resolver: &dyn ClientKeyResolver,
    seen: &dyn ProofReplay,
    client_id: &str,
    keys: &ClientKeys,
    assertion: &str,
    context: &AssertionContext<'_>,
) -> Result<(), String> {
    let jws = UnverifiedJws::parse(assertion).map_err(|error| error.to_string())?;
    let kid = jws
        .header()
        .kid
        .clone()
        .ok_or("the assertion names no key (kid)")?;
    let mut key_set = resolver.keys(keys, false).await?;
    if key_set.get(&kid).is_none() && matches!(keys, ClientKeys::Remote(_)) {
        key_set = resolver.keys(keys, true).await?;
    }
    // RFC 8725 §3.1: the registered key decides the algorithm.
    jws.check_signature(&key_set)
        .map_err(|error| error.to_string())?;
    // RFC 8725 §3.11: explicit typing keeps one kind of JWT from passing as another.
    if jws.header().typ.as_deref() == Some("oauth-authz-req+jwt") {
        return Err("a request object is not a client assertion".to_owned());
    }
    let claims: AssertionClaims = serde_json::from_slice(jws.unverified_payload())
        .map_err(|_| "the assertion's claims are malformed")?;
    if claims.response_type.is_some() || claims.client_id.is_some() || claims.redirect_uri.is_some()
    {
        return Err("a request object is not a client assertion".to_owned());
    }
    check_claims(&claims, client_id, context)?;
    let (Some(jti), Some(exp)) = (claims.jti, claims.exp) else {
        return Err("the assertion has no jti or exp".to_owned());
    };
    let until = exp
        .saturating_add(context.leeway_secs.max(0))
        .saturating_add(1);
    // OpenID Connect Core §9: the jti "MAY be used only once"; RFC 7523 §3 item 7 lets the
    // server refuse a replay. It is remembered until the assertion expires.
    match seen
        .first_use(
            // Length-prefixed: a `:` in the client id cannot make two pairs one key.
            &format!("{}:{client_id}:{jti}", client_id.len()),
            until,
            context.now,
        )
        .await
    {
        FirstUse::Yes => Ok(()),
        FirstUse::Replayed => Err("the assertion's jti was used before".to_owned()),
        FirstUse::Full => Err("too many assertions at once".to_owned()),
    }
}

/// RFC 7523 §3: `iss` and `sub` are the client id, `aud` names this server, `exp` is in the
/// future (and, here, at most an hour away), `nbf`/`iat` are not in the future; OpenID Connect
/// Core §9 makes `jti` required.
fn check_claims(
    claims: &AssertionClaims,
    client_id: &str,
    context: &AssertionContext<'_>,
) -> Result<(), String> {
    let now = context.now;
    let leeway = context.leeway_secs.max(0);
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err("iss and sub must both be the client id".to_owned());
    }
    // draft-ietf-oauth-rfc7523bis §4 (updating RFC 7523 §3): `aud` is this server's issuer
    // identifier as its sole value. An endpoint URL is refused: a client that was tricked into
    // addressing an assertion to a look-alike server's "token endpoint" (ours) must not thereby
    // authenticate here (the audience injection attack).
    let names_us = claims
        .aud
        .as_ref()
        .is_some_and(|aud| matches!(aud.values(), [only] if only == context.issuer));
    if !names_us {
        return Err("aud must be this server's issuer identifier, alone".to_owned());
    }
    let exp = claims.exp.ok_or("the assertion has no exp")?;
    if exp.saturating_add(leeway) <= now {
        return Err("the assertion has expired".to_owned());
    }
    if exp > now + MAX_ASSERTION_LIFETIME_SECS + leeway {
        return Err("the assertion's exp is more than an hour away".to_owned());
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + leeway)
        || claims.iat.is_some_and(|iat| iat > now + leeway)
    {
        return Err("the assertion is not valid yet".to_owned());
    }
    match &claims.jti {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LENGTH => Ok(()),
        _ => Err("the assertion needs a jti of 1 to 256 characters".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(now: UnixSeconds) -> AssertionContext<'static> {
        AssertionContext {
            issuer: "https://id.example",
            now,
            leeway_secs: 5,
        }
    }

    fn claims(value: serde_json::Value) -> AssertionClaims {
        serde_json::from_value(value).expect("claims")
    }

    #[test]
    fn claims_must_name_the_client_this_server_and_a_live_window() {
        let good = serde_json::json!({"iss": "c", "sub": "c", "aud": "https://id.example",
            "exp": 1_100, "iat": 1_000, "jti": "j"});
        assert_eq!(
            check_claims(&claims(good.clone()), "c", &context(1_000)),
            Ok(())
        );
        let mut array = good.clone();
        array["aud"] = serde_json::json!(["https://id.example"]);
        assert_eq!(check_claims(&claims(array), "c", &context(1_000)), Ok(()));
        let refused = [
            ("sub", serde_json::json!("d"), 1_000),
            ("iss", serde_json::json!(null), 1_000),
            ("aud", serde_json::json!("https://other.example"), 1_000),
            ("aud", serde_json::json!("https://id.example/token"), 1_000),
            (
                "aud",
                serde_json::json!(["https://id.example", "other"]),
                1_000,
            ),
            ("exp", serde_json::json!(i64::MAX), 1_000),
            ("exp", serde_json::json!(994), 1_000),
            ("exp", serde_json::json!(null), 1_000),
            ("exp", serde_json::json!(1_000 + 3_606), 1_000),
            ("nbf", serde_json::json!(1_010), 1_000),
            ("iat", serde_json::json!(1_010), 1_000),
            ("jti", serde_json::json!(null), 1_000),
            ("jti", serde_json::json!(""), 1_000),
        ];
        for (claim, value, now) in refused {
            let mut bad = good.clone();
            bad[claim] = value.clone();
            assert!(
                check_claims(&claims(bad), "c", &context(now)).is_err(),
                "{claim} = {value} must be refused"
            );
        }
    }
}
