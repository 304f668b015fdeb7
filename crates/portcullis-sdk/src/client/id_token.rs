//! ID token validation (OpenID Connect Core §3.1.3.7): signed by one of the provider's published
//! keys (the key decides the algorithm; `none` never), issued by the provider, for this client,
//! not expired, and carrying this sign-in's `nonce`.

use portcullis_jose::{Audience, JoseError, KeySet, UnverifiedJws};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The claims of a validated id token.
#[derive(Debug, Clone, PartialEq)]
pub struct IdTokenClaims {
    /// `sub`: who signed in, at the provider.
    pub subject: String,
    /// Every claim.
    pub claims: Map<String, Value>,
}

impl IdTokenClaims {
    /// `sid`: the provider's session, which back-channel logout names.
    pub fn session_id(&self) -> Option<&str> {
        self.claims.get("sid").and_then(Value::as_str)
    }
}

/// Why an id token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum IdTokenError {
    /// Signed with a key the provider does not (yet) publish.
    #[error("signed with an unknown key")]
    UnknownKey,
    /// Not a JWS signed with one of the provider's keys.
    #[error("{0}")]
    Jose(JoseError),
    /// A claim is missing, mistyped or wrong.
    #[error("{0}")]
    Claim(&'static str),
}

/// What an id token must satisfy.
pub(super) struct IdTokenRules<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce sent, for a token from an authorization; `None` for one from a refresh.
    pub nonce: Option<&'a str>,
    pub leeway_secs: i64,
}

/// The claims of `token` once its signature is verified with `keys`: signed by the key the
/// header names, in that key's algorithm (OpenID Connect Core §3.1.3.7 rule 6), and not typed as
/// one of `refused_types` (an access or logout token is never taken for another kind).
pub(super) fn verified_claims(
    token: &str,
    keys: &KeySet,
    refused_types: &[&str],
) -> Result<Map<String, Value>, IdTokenError> {
    let jws = UnverifiedJws::parse(token).map_err(IdTokenError::Jose)?;
    if jws.header().typ.as_deref().is_some_and(|typ| {
        refused_types
            .iter()
            .any(|refused| typ.eq_ignore_ascii_case(refused))
    }) {
        return Err(IdTokenError::Claim("a token of another kind"));
    }
    jws.check_signature(keys).map_err(|error| match error {
        JoseError::HeaderRejected("unknown kid") => IdTokenError::UnknownKey,
        other => IdTokenError::Jose(other),
    })?;
    serde_json::from_slice(jws.unverified_payload())
        .map_err(|_| IdTokenError::Claim("claims are not a JSON object"))
}

/// The claims checked, parsed strictly: a repeated or mistyped one fails the token.
#[derive(Deserialize)]
struct Checked {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    #[serde(rename = "iat")]
    _iat: i64,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
}

impl IdTokenRules<'_> {
    /// The claims of `token`, validated with `keys` at `now`.
    pub(super) fn validate(
        &self,
        token: &str,
        keys: &KeySet,
        now: i64,
    ) -> Result<IdTokenClaims, IdTokenError> {
        let claims = verified_claims(token, keys, &["at+jwt", "logout+jwt"])?;
        let checked: Checked = serde_json::from_value(Value::Object(claims.clone()))
            .map_err(|_| IdTokenError::Claim("iss, sub, aud, exp and iat are required"))?;
        // Rule 2: the issuer, exactly.
        if checked.iss != self.issuer {
            return Err(IdTokenError::Claim("iss is not the provider"));
        }
        // Rules 3 to 5: for this client; with other audiences, authorized for it (`azp`).
        if !checked.aud.contains(self.client_id) {
            return Err(IdTokenError::Claim("aud does not name this client"));
        }
        let azp_required = checked.aud.values().len() > 1;
        match checked.azp.as_deref() {
            Some(azp) if azp != self.client_id => {
                return Err(IdTokenError::Claim("azp is another client"));
            }
            None if azp_required => {
                return Err(IdTokenError::Claim("several audiences and no azp"));
            }
            _ => {}
        }
        // Rule 9: not expired.
        if checked.exp.saturating_add(self.leeway_secs) <= now {
            return Err(IdTokenError::Claim("expired"));
        }
        // Rule 11: this sign-in's nonce (replay of another sign-in's token).
        if let Some(nonce) = self.nonce
            && checked.nonce.as_deref() != Some(nonce)
        {
            return Err(IdTokenError::Claim("nonce is not this sign-in's"));
        }
        Ok(IdTokenClaims {
            subject: checked.sub,
            claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_jose::{Algorithm, SigningKey, sign_compact};
    use serde_json::json;

    const ISSUER: &str = "https://op.example";

    fn rules() -> IdTokenRules<'static> {
        IdTokenRules {
            issuer: ISSUER,
            client_id: "app",
            nonce: Some("n-1"),
            leeway_secs: 60,
        }
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "sub": "u-1", "aud": "app", "exp": 2_000, "iat": 1_000, "nonce": "n-1"})
    }

    #[test]
    fn only_this_sign_ins_token_from_the_provider_passes() {
        let key = SigningKey::generate(Algorithm::Es256, "k".into()).expect("key");
        let keys = KeySet::from_keys([key.verifying_key().clone()]);
        let sign = |claims: &Value, typ: &str| {
            sign_compact(claims.to_string().as_bytes(), typ, &key).expect("sign")
        };
        let valid = rules()
            .validate(&sign(&claims(), "JWT"), &keys, 1_500)
            .expect("valid");
        assert_eq!(valid.subject, "u-1");
        let with = |change: &dyn Fn(&mut Value)| {
            let mut changed = claims();
            change(&mut changed);
            changed
        };
        for (why, token, now) in [
            ("expired", sign(&claims(), "JWT"), 2_100),
            (
                "another issuer",
                sign(&with(&|c| c["iss"] = json!("https://evil.example")), "JWT"),
                1_500,
            ),
            (
                "another client",
                sign(&with(&|c| c["aud"] = json!("other")), "JWT"),
                1_500,
            ),
            (
                "several audiences, no azp",
                sign(&with(&|c| c["aud"] = json!(["app", "other"])), "JWT"),
                1_500,
            ),
            (
                "azp another client",
                sign(&with(&|c| c["azp"] = json!("other")), "JWT"),
                1_500,
            ),
            (
                "another nonce",
                sign(&with(&|c| c["nonce"] = json!("n-2")), "JWT"),
                1_500,
            ),
            (
                "no iat",
                sign(
                    &with(&|c| {
                        c.as_object_mut().map(|o| o.remove("iat"));
                    }),
                    "JWT",
                ),
                1_500,
            ),
            ("an access token", sign(&claims(), "at+jwt"), 1_500),
        ] {
            assert!(rules().validate(&token, &keys, now).is_err(), "{why}");
        }
        let other = SigningKey::generate(Algorithm::Es256, "other".into()).expect("key");
        let unknown = sign_compact(claims().to_string().as_bytes(), "JWT", &other).expect("sign");
        assert_eq!(
            rules().validate(&unknown, &keys, 1_500),
            Err(IdTokenError::UnknownKey)
        );
        let several = with(&|c| {
            c["aud"] = json!(["app", "other"]);
            c["azp"] = json!("app");
        });
        assert!(
            rules()
                .validate(&sign(&several, "JWT"), &keys, 1_500)
                .is_ok()
        );
    }
}
