//! JWT-secured authorization requests (RFC 9101, OpenID Connect Core §6.1): the `request`
//! parameter carries the authorization request as a JWT the client signed with one of its
//! registered keys, so nobody in between can read a changed request as the client's. Only the
//! object's parameters are used (RFC 9101 §5); a plain parameter sent beside it must agree.

use crate::tokens::ClientKeyResolver;
use portcullis_core::{Client, ClientKeys, RequestObjectAlg, UnixSeconds};
use portcullis_jose::{UnsecuredJws, UnverifiedJws};
use serde_json::{Map, Value};

/// The furthest in the future a request object's `exp` may be.
pub const MAX_REQUEST_OBJECT_LIFETIME_SECS: i64 = 3600;
/// Claims that describe the object itself, not the authorization request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// Why a request object was refused (`invalid_request_object`, RFC 9101 §6.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestObjectError(pub String);

/// Opens request objects, borrowed from the server's state for one request.
pub struct RequestObjects<'a> {
    /// Where clients' registered keys are read.
    pub keys: &'a dyn ClientKeyResolver,
    /// This server's issuer identifier: the object's `aud`.
    pub issuer: &'a str,
    /// Now.
    pub now: UnixSeconds,
    /// Clock skew allowed, in seconds.
    pub leeway_secs: i64,
}

impl RequestObjects<'_> {
    /// The parameters of the authorization request `request` (a request object of `client`)
    /// carries, given the plain parameters `outer` sent beside it: the object's, with its
    /// `client_id`.
    ///
    /// # Errors
    /// [`RequestObjectError`]: not a JWS signed with one of the client's keys, not for this
    /// server, expired, nested, or disagreeing with a plain parameter.
    pub async fn open(
        &self,
        client: &Client,
        request: &str,
        outer: &[(String, String)],
    ) -> Result<Vec<(String, String)>, RequestObjectError> {
        let refuse = |why: &str| RequestObjectError(why.to_owned());
        let payload = match client.request_object_signing_alg {
            // A client registered for `none` sends unsigned objects, and only those (OpenID
            // Connect Dynamic Client Registration §2: the algorithm that MUST be used).
            Some(RequestObjectAlg::Unsigned) => UnsecuredJws::parse(request)
                .map_err(|_| refuse("this client's request objects must be unsigned (alg none)"))?
                .payload()
                .to_vec(),
            pinned => self.verified_payload(client, request, pinned).await?,
        };
        let claims: Map<String, Value> = serde_json::from_slice(&payload)
            .map_err(|_| refuse("the request object's claims are not a JSON object"))?;
        self.check_claims(&claims, client)?;
        let pairs = parameters(&claims, client)?;
        // OpenID Connect Core §6.1: a plain parameter sent beside the object must agree with it.
        for (name, value) in outer {
            // The object itself, by value or by reference.
            if name == "request" || name == "request_uri" {
                continue;
            }
            let in_object: Vec<&String> = pairs
                .iter()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value)
                .collect();
            if !in_object.is_empty() && !in_object.contains(&value) {
                return Err(RequestObjectError(format!(
                    "`{name}` differs from the request object's"
                )));
            }
        }
        Ok(pairs)
    }

    /// The payload of `request`, signed with one of `client`'s registered keys (RFC 9101 §6.2),
    /// with the algorithm `pinned` if the client registered one. Unsigned and encrypted objects
    /// are refused: a JWE or `alg: none` does not parse as a signed JWS.
    async fn verified_payload(
        &self,
        client: &Client,
        request: &str,
        pinned: Option<RequestObjectAlg>,
    ) -> Result<Vec<u8>, RequestObjectError> {
        let refuse = |why: &str| RequestObjectError(why.to_owned());
        let keys = client
            .keys
            .as_ref()
            .ok_or_else(|| refuse("the client has no registered keys to sign request objects"))?;
        let jws = UnverifiedJws::parse(request)
            .map_err(|_| refuse("the request object is not a JWS signed with an accepted alg"))?;
        if let Some(RequestObjectAlg::Signed(alg)) = pinned
            && jws.header().alg != alg.as_str()
        {
            return Err(refuse(
                "the request object is not signed with the client's request_object_signing_alg",
            ));
        }
        // RFC 9101 §10.8: an explicit type, or none; never one of the other JWTs we take.
        match jws.header().typ.as_deref() {
            None | Some("oauth-authz-req+jwt" | "JWT") => {}
            Some(_) => {
                return Err(refuse(
                    "the request object's typ is not oauth-authz-req+jwt",
                ));
            }
        }
        let unreadable = |error: String| {
            // The detail (a fetch error) is for the operator, not for whoever sent the object.
            tracing::warn!(client_id = %client.id, %error, "request object: client keys unreadable");
            refuse("the client's registered keys could not be read")
        };
        let mut key_set = self.keys.keys(keys, false).await.map_err(unreadable)?;
        let named_key_missing = jws
            .header()
            .kid
            .as_ref()
            .is_some_and(|kid| key_set.get(kid).is_none());
        if named_key_missing && matches!(keys, ClientKeys::Remote(_)) {
            key_set = self.keys.keys(keys, true).await.map_err(unreadable)?;
        }
        // RFC 8725 §3.1: the registered key decides the algorithm.
        jws.check_signature(&key_set)
            .map_err(|_| refuse("the request object's signature does not verify"))?;
        Ok(jws.unverified_payload().to_vec())
    }

    /// RFC 9101 §4 and §10: `iss` (if any) is the client, `aud` names this server, `exp` lies
    /// ahead (at most an hour), `nbf` has passed.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        client: &Client,
    ) -> Result<(), RequestObjectError> {
        let refuse = |why: &str| Err(RequestObjectError(why.to_owned()));
        if claims
            .get("iss")
            .is_some_and(|iss| iss.as_str() != Some(client.id.as_str()))
        {
            return refuse("iss must be the client id");
        }
        // This server alone, as for client assertions: an object meant for several servers
        // could be used at each.
        let names_us = match claims.get("aud") {
            Some(Value::String(audience)) => audience == self.issuer,
            Some(Value::Array(audiences)) => {
                matches!(audiences.as_slice(), [Value::String(only)] if only == self.issuer)
            }
            _ => false,
        };
        if !names_us {
            return refuse("aud must be this server's issuer identifier, alone");
        }
        let leeway = self.leeway_secs.max(0);
        let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
            return refuse("the request object has no exp");
        };
        if exp.saturating_add(leeway) <= self.now {
            return refuse("the request object has expired");
        }
        if exp > self.now + MAX_REQUEST_OBJECT_LIFETIME_SECS + leeway {
            return refuse("the request object's exp is more than an hour away");
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > self.now + leeway)
        {
            return refuse("the request object is not valid yet");
        }
        Ok(())
    }
}

/// The authorization request parameters among `claims`, as form pairs.
fn parameters(
    claims: &Map<String, Value>,
    client: &Client,
) -> Result<Vec<(String, String)>, RequestObjectError> {
    let mut pairs = Vec::new();
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        // RFC 9101 §4: a request object holds neither of these.
        if name == "request" || name == "request_uri" {
            return Err(RequestObjectError(format!(
                "a request object cannot hold `{name}`"
            )));
        }
        match value {
            Value::String(text) => pairs.push((name.clone(), text.clone())),
            Value::Number(number) => pairs.push((name.clone(), number.to_string())),
            // `resource` may be given more than once (RFC 8707 §2).
            Value::Array(items) if name == "resource" => {
                for item in items {
                    let text = item.as_str().ok_or_else(|| {
                        RequestObjectError("resource values must be strings".to_owned())
                    })?;
                    pairs.push((name.clone(), text.to_owned()));
                }
            }
            _ => {
                return Err(RequestObjectError(format!(
                    "`{name}` must be a string or a number"
                )));
            }
        }
    }
    // RFC 9101 §5: the client_id of the object is the request's (checked against the plain one).
    match pairs.iter().find(|(name, _)| name == "client_id") {
        Some((_, id)) if id != &client.id => Err(RequestObjectError(
            "the request object's client_id is another client".to_owned(),
        )),
        Some(_) => Ok(pairs),
        None => {
            pairs.push(("client_id".to_owned(), client.id.clone()));
            Ok(pairs)
        }
    }
}
