//! Validation of JWT access tokens (RFC 7519 §7.2, RFC 9068 §4): signature, `typ`, issuer,
//! audience and time claims. Used by the gateway, the SDK and `portcullis token verify`.

use crate::{JoseError, KeySet, UnverifiedJws};
use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

/// Why an access token was refused. The messages are safe to return to the caller.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValidationError {
    /// The JWS layer refused the token (malformed, header, kid, alg or signature).
    #[error(transparent)]
    Jose(#[from] JoseError),
    /// The claims are not a JSON object with well-typed registered claims.
    #[error("claims are malformed: {0}")]
    MalformedClaims(&'static str),
    /// `typ` is not `at+jwt` (RFC 9068 §4: e.g. an id token presented as an access token).
    #[error("token is not an access token (typ must be at+jwt)")]
    WrongType,
    /// `iss` is not the expected issuer.
    #[error("token issuer is not accepted")]
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// `exp` has passed.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token is not yet valid")]
    NotYetValid,
    /// The token is bound to a key (`cnf`, RFC 9449 §6): it is not a bearer token, and this
    /// endpoint checks no proofs (RFC 9449 §7.2).
    #[error("token is bound to a key (DPoP); it is not accepted as a bearer token here")]
    SenderConstrained,
}

/// What an access token must satisfy.
#[derive(Debug, Clone)]
pub struct AccessTokenValidation {
    /// The exact issuer identifier (`iss`).
    pub issuer: String,
    /// The audience that must appear in `aud`; `None` skips the check (for tools, not resources).
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: i64,
}

/// A token whose signature and claims passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedToken {
    /// The key id that verified it.
    pub kid: String,
    /// All claims.
    pub claims: Map<String, Value>,
}

/// The registered claims, parsed strictly: a repeated or mistyped member fails the token.
#[derive(Deserialize)]
struct RegisteredClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    #[serde(rename = "iat")]
    _iat: Option<i64>,
    #[serde(rename = "sub")]
    _sub: Option<String>,
}

/// The `aud` claim (RFC 7519 §4.1.3): one string, or an array of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Every audience named.
    pub fn values(&self) -> &[String] {
        match self {
            Audience::One(audience) => std::slice::from_ref(audience),
            Audience::Many(audiences) => audiences,
        }
    }

    /// Whether `wanted` is among them.
    pub fn contains(&self, wanted: &str) -> bool {
        self.values().iter().any(|audience| audience == wanted)
    }
}

/// RFC 9068 §4: `typ` must be `at+jwt`; media type names compare case-insensitively and the
/// `application/` prefix may be present (RFC 7515 §4.1.9).
fn is_access_token_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    typ == "at+jwt" || typ == "application/at+jwt"
}

impl AccessTokenValidation {
    /// Validates `token` against `keys` at time `now` (Unix seconds).
    ///
    /// # Errors
    /// The first defect found, as a [`ValidationError`].
    pub fn validate(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<ValidatedToken, ValidationError> {
        self.validate_jws(&UnverifiedJws::parse(token)?, keys, now)
    }

    /// Validates an already parsed token, as [`AccessTokenValidation::validate`] does (for a
    /// caller that read the unverified claims first, so the token is decoded once).
    ///
    /// # Errors
    /// The first defect found, as a [`ValidationError`].
    pub fn validate_jws(
        &self,
        jws: &UnverifiedJws<'_>,
        keys: &KeySet,
        now: i64,
    ) -> Result<ValidatedToken, ValidationError> {
        if !jws
            .header()
            .typ
            .as_deref()
            .is_some_and(is_access_token_type)
        {
            return Err(ValidationError::WrongType);
        }
        let kid = jws.header().kid.clone().unwrap_or_default();
        jws.check_signature(keys)?;
        let payload = jws.unverified_payload();
        let registered: RegisteredClaims = serde_json::from_slice(payload)
            .map_err(|_| ValidationError::MalformedClaims("registered claims are invalid"))?;
        // A repeated claim is ambiguous (parsers disagree on which one counts): refuse it
        // (RFC 7519 §4: claim names within a claims set must be unique).
        let UniqueMembers(claims) = serde_json::from_slice(payload).map_err(|_| {
            ValidationError::MalformedClaims("claims are not a JSON object with unique names")
        })?;
        if registered.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(ValidationError::WrongIssuer);
        }
        if let Some(audience) = &self.audience
            && !registered.aud.is_some_and(|aud| aud.contains(audience))
        {
            return Err(ValidationError::WrongAudience);
        }
        // RFC 9068 §2.2: exp is required in an access token.
        let exp = registered
            .exp
            .ok_or(ValidationError::MalformedClaims("exp is required"))?;
        if now >= exp.saturating_add(self.leeway_secs) {
            return Err(ValidationError::Expired);
        }
        if registered
            .nbf
            .is_some_and(|nbf| now < nbf.saturating_sub(self.leeway_secs))
        {
            return Err(ValidationError::NotYetValid);
        }
        Ok(ValidatedToken { kid, claims })
    }
}

/// A JSON object whose member names are unique; a repeated name fails deserialization.
struct UniqueMembers(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueMembers {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueMembers;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueMembers, A::Error> {
                let mut members = Map::new();
                while let Some((name, value)) = access.next_entry::<String, Value>()? {
                    if members.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!(
                            "repeated member `{name}`"
                        )));
                    }
                    members.insert(name, value);
                }
                Ok(UniqueMembers(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, SigningKey, sign_compact};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn setup() -> (SigningKey, KeySet, AccessTokenValidation) {
        let key = SigningKey::generate(Algorithm::Es256, "k1".into()).expect("key");
        let keys = KeySet::from_keys([key.verifying_key().clone()]);
        let validation = AccessTokenValidation {
            issuer: "https://auth.example".into(),
            audience: Some("api".into()),
            leeway_secs: 30,
        };
        (key, keys, validation)
    }

    fn token(key: &SigningKey, typ: &str, claims: Value) -> String {
        sign_compact(claims.to_string().as_bytes(), typ, key).expect("sign")
    }

    fn good_claims() -> Value {
        json!({"iss":"https://auth.example","aud":["api","other"],"sub":"s","exp":NOW+60,"iat":NOW})
    }

    #[test]
    fn valid_token_passes() {
        let (key, keys, validation) = setup();
        let validated = validation
            .validate(&token(&key, "at+jwt", good_claims()), &keys, NOW)
            .expect("valid");
        assert_eq!(validated.kid, "k1");
        assert_eq!(validated.claims["sub"], "s");
        let prefixed = token(&key, "application/AT+JWT", good_claims());
        assert!(validation.validate(&prefixed, &keys, NOW).is_ok());
    }

    #[test]
    fn each_claim_defect_is_named() {
        let (key, keys, validation) = setup();
        let with = |patch: Value| {
            let mut claims = good_claims();
            if let (Some(target), Some(patch)) = (claims.as_object_mut(), patch.as_object()) {
                for (name, value) in patch {
                    target.insert(name.clone(), value.clone());
                }
            }
            validation.validate(&token(&key, "at+jwt", claims), &keys, NOW)
        };
        assert_eq!(
            with(json!({"iss":"https://evil"})),
            Err(ValidationError::WrongIssuer)
        );
        assert_eq!(
            with(json!({"aud":"other"})),
            Err(ValidationError::WrongAudience)
        );
        assert_eq!(with(json!({"exp":NOW-31})), Err(ValidationError::Expired));
        assert!(with(json!({"exp":NOW-29})).is_ok(), "within leeway");
        assert_eq!(
            with(json!({"nbf":NOW+31})),
            Err(ValidationError::NotYetValid)
        );
        assert!(matches!(
            with(json!({"exp":"soon"})),
            Err(ValidationError::MalformedClaims(_))
        ));
        assert!(matches!(
            with(json!({"exp":null})),
            Err(ValidationError::MalformedClaims(_))
        ));
        assert_eq!(
            validation.validate(&token(&key, "JWT", good_claims()), &keys, NOW),
            Err(ValidationError::WrongType)
        );
    }

    #[test]
    fn repeated_registered_claims_are_refused() {
        let (key, keys, validation) = setup();
        let payload = format!(
            r#"{{"iss":"https://evil","iss":"https://auth.example","aud":"api","exp":{}}}"#,
            NOW + 60
        );
        let token = sign_compact(payload.as_bytes(), "at+jwt", &key).expect("sign");
        assert!(matches!(
            validation.validate(&token, &keys, NOW),
            Err(ValidationError::MalformedClaims(_))
        ));
    }
}
