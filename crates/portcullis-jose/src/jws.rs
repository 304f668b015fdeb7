//! JWS compact serialization (RFC 7515 §3.1, §7.1): signing, and parsing with verification pinned to
//! the key's algorithm.

use crate::{JoseError, KeySet, SigningKey, base64url};
use serde::{Deserialize, Serialize};

/// Tokens longer than this are refused before any parsing or base64 decoding.
pub const MAX_TOKEN_LENGTH: usize = 16 * 1024;

/// The protected header members Portcullis writes and reads.
///
/// Header members that would make a verifier fetch or trust a key named by the token itself (`jku`,
/// `jwk`, `x5u`, `x5c`) and any `crit` extension are refused when parsing: keys come only from the
/// verifier's own key set (RFC 8725 §3.10), and RFC 7515 §4.1.11 requires rejecting a token whose
/// critical extensions are not understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// The signature algorithm, as written by the signer. Verification never chooses by it.
    pub alg: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Media type of the token, `at+jwt` for access tokens (RFC 9068 §2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// The members that are refused if present, with the reason given.
const REFUSED_HEADER_MEMBERS: [(&str, &str); 5] = [
    ("crit", "critical extensions are not supported"),
    ("jku", "header jku is not accepted"),
    ("jwk", "header jwk is not accepted"),
    ("x5u", "header x5u is not accepted"),
    ("x5c", "header x5c is not accepted"),
];

/// Signs `payload` with `key`, writing `alg` and `kid` from the key and the given `typ`.
///
/// # Errors
/// Fails only if the crypto library refuses to sign.
pub fn sign_compact(payload: &[u8], typ: &str, key: &SigningKey) -> Result<String, JoseError> {
    let header = JwsHeader {
        alg: key.algorithm().as_str().to_owned(),
        kid: Some(key.kid().to_owned()),
        typ: Some(typ.to_owned()),
    };
    let header_json =
        serde_json::to_vec(&header).map_err(|_| JoseError::Crypto("header serialization"))?;
    let mut token = base64url::encode(header_json);
    token.push('.');
    token.push_str(&base64url::encode(payload));
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&base64url::encode(signature));
    Ok(token)
}

/// The three parts of a compact JWS, decoded, its header checked for refused members.
struct CompactParts {
    header: JwsHeader,
    signing_input_len: usize,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl CompactParts {
    fn parse(token: &str) -> Result<Self, JoseError> {
        if token.len() > MAX_TOKEN_LENGTH {
            return Err(JoseError::Malformed("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::Malformed("a JWS has exactly three parts"));
        };
        let header_json =
            base64url::decode(header_b64).ok_or(JoseError::Malformed("header is not base64url"))?;
        let payload = base64url::decode(payload_b64)
            .ok_or(JoseError::Malformed("payload is not base64url"))?;
        let signature = base64url::decode(signature_b64)
            .ok_or(JoseError::Malformed("signature is not base64url"))?;
        let header_object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header_json)
                .map_err(|_| JoseError::Malformed("header is not a JSON object"))?;
        for (member, reason) in REFUSED_HEADER_MEMBERS {
            if header_object.contains_key(member) {
                return Err(JoseError::HeaderRejected(reason));
            }
        }
        // Typed parse as well: derive(Deserialize) refuses duplicate `alg`/`kid`/`typ` members,
        // which a map would silently collapse.
        let header: JwsHeader = serde_json::from_slice(&header_json)
            .map_err(|_| JoseError::Malformed("header members are invalid or repeated"))?;
        Ok(CompactParts {
            header,
            signing_input_len: header_b64.len() + 1 + payload_b64.len(),
            payload,
            signature,
        })
    }
}

/// An Unsecured JWS (RFC 7515 Appendix A.5, RFC 7519 §6.1): header `alg` `none` and an empty
/// signature. Nothing vouches for its payload; only a caller that decided to trust the channel
/// it came by (a client registered for unsigned request objects) may read it.
#[derive(Debug, Clone)]
pub struct UnsecuredJws {
    header: JwsHeader,
    payload: Vec<u8>,
}

impl UnsecuredJws {
    /// Parses an unsecured JWS: three parts, the last empty, `alg` exactly `none`.
    ///
    /// # Errors
    /// [`JoseError::Malformed`] or [`JoseError::HeaderRejected`], also for a signed JWS.
    pub fn parse(token: &str) -> Result<Self, JoseError> {
        let parts = CompactParts::parse(token)?;
        if parts.header.alg != "none" || !parts.signature.is_empty() {
            return Err(JoseError::HeaderRejected(
                "not an unsecured JWS (alg none, no signature)",
            ));
        }
        Ok(UnsecuredJws {
            header: parts.header,
            payload: parts.payload,
        })
    }

    /// The header.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The payload, vouched for by nothing.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// A syntactically valid JWS whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub struct UnverifiedJws<'a> {
    header: JwsHeader,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> UnverifiedJws<'a> {
    /// Parses a compact JWS: three base64url parts, a JSON object header without refused members.
    ///
    /// # Errors
    /// [`JoseError::Malformed`] or [`JoseError::HeaderRejected`].
    pub fn parse(token: &'a str) -> Result<Self, JoseError> {
        let parts = CompactParts::parse(token)?;
        if parts.signature.is_empty() {
            return Err(JoseError::Malformed("signature is empty"));
        }
        Ok(UnverifiedJws {
            header: parts.header,
            signing_input: &token[..parts.signing_input_len],
            payload: parts.payload,
            signature: parts.signature,
        })
    }

    /// The header, unverified.
    pub fn header(&self) -> &JwsHeader {
        &self.header
    }

    /// The payload, unverified: for display only (`portcullis token decode`).
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the signature with the key named by `kid`, using that key's algorithm, and returns
    /// the payload. The header's `alg` must name the same algorithm, or the token is refused.
    ///
    /// # Errors
    /// As [`UnverifiedJws::check_signature`].
    pub fn verify(self, keys: &KeySet) -> Result<Vec<u8>, JoseError> {
        self.check_signature(keys)?;
        Ok(self.payload)
    }

    /// Checks the signature as [`UnverifiedJws::verify`] does, without consuming the JWS: after
    /// `Ok`, [`UnverifiedJws::unverified_payload`] is the verified payload.
    ///
    /// # Errors
    /// [`JoseError::HeaderRejected`] for a missing or unknown `kid` or an `alg` that does not
    /// match the key; [`JoseError::BadSignature`] when the signature does not verify.
    pub fn check_signature(&self, keys: &KeySet) -> Result<(), JoseError> {
        let kid = self
            .header
            .kid
            .as_deref()
            .ok_or(JoseError::HeaderRejected("token has no kid"))?;
        let key = keys
            .get(kid)
            .ok_or(JoseError::HeaderRejected("unknown kid"))?;
        // RFC 8725 §3.1: the key decides the algorithm; a different header alg is an attack.
        if self.header.alg != key.algorithm().as_str() {
            return Err(JoseError::HeaderRejected("alg does not match the key"));
        }
        key.verify(self.signing_input.as_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Algorithm, VerifyingKey};

    fn key_set(keys: &[&SigningKey]) -> KeySet {
        KeySet::from_keys(keys.iter().map(|key| key.verifying_key().clone()))
    }

    fn forge(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            base64url::encode(header),
            base64url::encode(payload),
            base64url::encode(signature)
        )
    }

    #[test]
    fn signed_tokens_verify_for_every_algorithm() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg, format!("kid-{alg}")).expect("key");
            let token = sign_compact(br#"{"sub":"a"}"#, "at+jwt", &key).expect("sign");
            let jws = UnverifiedJws::parse(&token).expect("parse");
            assert_eq!(jws.header().alg, alg.as_str());
            assert_eq!(jws.header().typ.as_deref(), Some("at+jwt"));
            let payload = jws.verify(&key_set(&[&key])).expect("verify");
            assert_eq!(payload, br#"{"sub":"a"}"#);
        }
    }

    #[test]
    fn unsecured_tokens_are_told_apart_from_signed_ones() {
        let unsecured = forge(
            r#"{"alg":"none","typ":"oauth-authz-req+jwt"}"#,
            r#"{"a":1}"#,
            b"",
        );
        let parsed = UnsecuredJws::parse(&unsecured).expect("unsecured");
        assert_eq!(parsed.payload(), br#"{"a":1}"#);
        assert!(
            UnverifiedJws::parse(&unsecured).is_err(),
            "never taken as a signed JWS"
        );
        let key = SigningKey::generate(Algorithm::Es256, "k".into()).expect("key");
        let signed = sign_compact(b"{}", "JWT", &key).expect("sign");
        for refused in [
            signed.as_str(),
            &forge(r#"{"alg":"none"}"#, "{}", b"sig"),
            &forge(r#"{"alg":"None"}"#, "{}", b""),
            &forge(r#"{"alg":"none","crit":["x"]}"#, "{}", b""),
            &forge(r#"{"alg":"none","alg":"none"}"#, "{}", b""),
        ] {
            assert!(UnsecuredJws::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn header_alg_must_match_the_key() {
        let key = SigningKey::generate(Algorithm::Es256, "k".into()).expect("key");
        let token = sign_compact(b"{}", "at+jwt", &key).expect("sign");
        let signature = token
            .rsplit('.')
            .next()
            .and_then(base64url::decode)
            .expect("sig");
        for alg in ["none", "HS256", "RS256", "EdDSA", "es256"] {
            let forged = forge(&format!(r#"{{"alg":"{alg}","kid":"k"}}"#), "{}", &signature);
            let result =
                UnverifiedJws::parse(&forged).and_then(|jws| jws.verify(&key_set(&[&key])));
            assert!(result.is_err(), "{alg} must be refused");
        }
    }

    #[test]
    fn embedded_keys_and_crit_are_refused() {
        for member in ["jwk", "jku", "x5u", "x5c", "crit"] {
            let forged = forge(
                &format!(r#"{{"alg":"ES256","kid":"k","{member}":1}}"#),
                "{}",
                b"s",
            );
            assert!(matches!(
                UnverifiedJws::parse(&forged),
                Err(JoseError::HeaderRejected(_))
            ));
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let too_long = "a".repeat(MAX_TOKEN_LENGTH + 1);
        for token in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.c2ln",
            "e30.e30.",
            "bnVsbA.e30.c2ln",
            too_long.as_str(),
        ] {
            assert!(UnverifiedJws::parse(token).is_err(), "{token:.20}");
        }
        let duplicate = forge(r#"{"alg":"ES256","alg":"none","kid":"k"}"#, "{}", b"s");
        assert!(UnverifiedJws::parse(&duplicate).is_err());
    }

    #[test]
    fn tampering_and_foreign_keys_fail() {
        let key = SigningKey::generate(Algorithm::EdDsa, "k".into()).expect("key");
        let impostor = SigningKey::generate(Algorithm::EdDsa, "k".into()).expect("key");
        let token = sign_compact(br#"{"a":1}"#, "at+jwt", &impostor).expect("sign");
        let keys = key_set(&[&key]);
        assert_eq!(
            UnverifiedJws::parse(&token).and_then(|jws| jws.verify(&keys)),
            Err(JoseError::BadSignature).map(|()| Vec::new())
        );
        let genuine = sign_compact(br#"{"a":1}"#, "at+jwt", &key).expect("sign");
        let mut parts: Vec<&str> = genuine.split('.').collect();
        let tampered_payload = base64url::encode(br#"{"a":2}"#);
        parts[1] = &tampered_payload;
        let tampered = parts.join(".");
        assert!(
            UnverifiedJws::parse(&tampered)
                .and_then(|jws| jws.verify(&keys))
                .is_err()
        );
        let unknown = KeySet::from_keys(std::iter::empty::<VerifyingKey>());
        assert!(
            UnverifiedJws::parse(&genuine)
                .and_then(|jws| jws.verify(&unknown))
                .is_err()
        );
    }
}
