//! DPoP proofs (RFC 9449): a JWT the client signs with its own key for each request, carrying
//! that public key in its header. Verifying one means: the header is `typ: dpop+jwt` with an
//! asymmetric `alg` that the embedded key pins (§4.2, RFC 8725 §3.1), the key is public only,
//! the signature verifies under it, and the claims name this request (`htm`, `htu`), a recent
//! `iat`, a `jti` for replay detection, and, at a resource, `ath` of the access token presented
//! (§4.3). What binds a token to the key is the key's JWK SHA-256 thumbprint (RFC 7638), `jkt`.
//! Replay of a `jti` is for the caller to refuse: it needs state shared by the servers.

use crate::{Algorithm, JoseError, MAX_TOKEN_LENGTH, VerifyingKey, base64url, sha256};
use portcullis_types::Jwk;
use serde::Deserialize;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const DPOP_TYP: &str = "dpop+jwt";
/// The longest `jti` accepted (it is stored for replay detection).
const MAX_JTI_LENGTH: usize = 256;
/// JWK members that only private keys have: a proof carrying one is refused (RFC 9449 §4.3).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused; every variant is an `invalid_dpop_proof` (RFC 9449 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// Not a well-formed proof: its structure, header or claims.
    #[error("malformed DPoP proof: {0}")]
    Malformed(&'static str),
    /// The signature or the key is not acceptable.
    #[error("DPoP proof key or signature rejected: {0}")]
    Key(JoseError),
    /// `htm` or `htu` is not this request's.
    #[error("DPoP proof is for another request")]
    WrongRequest,
    /// `iat` is too old or in the future.
    #[error("DPoP proof is too old or from the future")]
    Stale,
    /// `ath` is missing or is not the access token's hash.
    #[error("DPoP proof does not name this access token")]
    WrongAccessToken,
    /// The server's nonce is required and was missing or not the current one (`use_dpop_nonce`).
    #[error("DPoP proof needs the server's nonce")]
    NonceRequired,
}

/// How old a proof may be, in seconds, at any endpoint (the auth server, the gateway, the SDK).
pub const PROOF_MAX_AGE_SECS: i64 = 60;

/// The one proof among a request's `DPoP` header values: RFC 9449 §4.3 (1) allows exactly one.
///
/// # Errors
/// Why there is none to check, in words for `error_description`.
pub fn single_proof<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<&'a str, &'static str> {
    match (values.next(), values.next()) {
        (Some(proof), None) => std::str::from_utf8(proof).map_err(|_| "the proof is not text"),
        _ => Err("send exactly one DPoP proof"),
    }
}

/// What a proof must match.
#[derive(Debug, Clone, Copy)]
pub struct DpopExpectations<'a> {
    /// The request's method, such as `POST`.
    pub method: &'a str,
    /// The request's URL (the server's external one), normalized by [`normalize_htu`].
    pub url: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
    /// How old `iat` may be, in seconds.
    pub max_age_secs: i64,
    /// How far in the future `iat` may be (clock skew), in seconds.
    pub leeway_secs: i64,
    /// At a resource: the access token presented, whose hash `ath` must be.
    pub access_token: Option<&'a str>,
}

impl<'a> DpopExpectations<'a> {
    /// What a proof must match at `url` (normalized) for `method` at `now`: at most
    /// [`PROOF_MAX_AGE_SECS`] old plus `leeway_secs`, naming `access_token` when one is presented
    /// (at a resource; not at the token endpoint).
    pub fn new(
        method: &'a str,
        url: &'a str,
        access_token: Option<&'a str>,
        now: i64,
        leeway_secs: i64,
    ) -> Self {
        DpopExpectations {
            method,
            url,
            now,
            max_age_secs: PROOF_MAX_AGE_SECS,
            leeway_secs,
            access_token,
        }
    }
}

/// A verified proof; its [`DpopProof::replay_key`] is remembered so it is used once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    /// The JWK SHA-256 thumbprint of the proof's key (RFC 7638), base64url.
    pub jkt: String,
    /// The proof's unique id.
    pub jti: String,
    /// When it was made.
    pub iat: i64,
    /// The server nonce it carries, if any.
    pub nonce: Option<String>,
}

impl DpopProof {
    /// What identifies this proof against replay (RFC 9449 §11.1: its `jti`, with its key).
    pub fn replay_key(&self) -> String {
        format!("{}:{}", self.jkt, self.jti)
    }

    /// Until when it must be remembered: one second past the last moment `expected` accepts it.
    pub fn remembered_until(&self, expected: &DpopExpectations<'_>) -> i64 {
        self.iat + expected.max_age_secs + expected.leeway_secs.max(0) + 1
    }
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Verifies `proof` against `expected`; replay of its `jti` and its nonce are the caller's to
/// check.
///
/// # Errors
/// [`DpopError`].
pub fn verify_proof(proof: &str, expected: &DpopExpectations<'_>) -> Result<DpopProof, DpopError> {
    if proof.len() > MAX_TOKEN_LENGTH {
        return Err(DpopError::Malformed("too long"));
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed("a DPoP proof is a JWS of three parts"));
    };
    let decode =
        |part: &str, what: &'static str| base64url::decode(part).ok_or(DpopError::Malformed(what));
    let header_json = decode(header_b64, "header is not base64url")?;
    let header_object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header_json)
            .map_err(|_| DpopError::Malformed("header is not a JSON object"))?;
    // Keys come only from `jwk`; critical extensions are not understood (RFC 7515 §4.1.11).
    for refused in ["crit", "jku", "x5u", "x5c", "kid"] {
        if header_object.contains_key(refused) {
            return Err(DpopError::Malformed(
                "header names a key other than jwk, or crit",
            ));
        }
    }
    let header: Header = serde_json::from_slice(&header_json)
        .map_err(|_| DpopError::Malformed("header needs typ, alg and jwk, once each"))?;
    // RFC 9449 §4.3 (4): typ is dpop+jwt.
    // Media types compare case-insensitively (RFC 7515 §4.1.9).
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case(DPOP_TYP))
    {
        return Err(DpopError::Malformed("typ must be dpop+jwt"));
    }
    // §4.3 (5): an asymmetric algorithm; `none` and HMAC cannot even be named here.
    let alg: Algorithm = header
        .alg
        .parse()
        .map_err(|_| DpopError::Malformed("alg must be ES256, EdDSA or RS256"))?;
    // §4.3 (7): the key is public; a private member means the client leaked its key.
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| header.jwk.contains_key(*member))
    {
        return Err(DpopError::Malformed("jwk carries a private key"));
    }
    let mut jwk: Jwk = serde_json::from_value(serde_json::Value::Object(header.jwk))
        .map_err(|_| DpopError::Malformed("jwk is not a JSON Web Key"))?;
    jwk.kid = Some("dpop".to_owned());
    let key = VerifyingKey::from_jwk(&jwk).map_err(DpopError::Key)?;
    // RFC 8725 §3.1: the key decides the algorithm.
    if key.algorithm() != alg {
        return Err(DpopError::Key(JoseError::HeaderRejected(
            "alg does not match the key",
        )));
    }
    let signature = decode(signature_b64, "signature is not base64url")?;
    let signing_input = &proof[..header_b64.len() + 1 + claims_b64.len()];
    key.verify(signing_input.as_bytes(), &signature)
        .map_err(DpopError::Key)?;
    let claims: Claims = serde_json::from_slice(&decode(claims_b64, "claims are not base64url")?)
        .map_err(|_| DpopError::Malformed("claims need jti, htm, htu and iat"))?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LENGTH {
        return Err(DpopError::Malformed("jti must be 1-256 characters"));
    }
    // §4.3 (8), (9): this method and this URL, without query and fragment.
    let htu_matches = normalize_htu(&claims.htu).is_some_and(|htu| htu == expected.url);
    if claims.htm != expected.method || !htu_matches {
        return Err(DpopError::WrongRequest);
    }
    // §4.3 (11): created within an acceptable window.
    if claims.iat < expected.now - expected.max_age_secs
        || claims.iat > expected.now + expected.leeway_secs
    {
        return Err(DpopError::Stale);
    }
    // §4.3 (12): at a resource, `ath` is the hash of the access token presented.
    if let Some(token) = expected.access_token {
        let wanted = base64url::encode(sha256(token.as_bytes()));
        if claims.ath.as_deref() != Some(wanted.as_str()) {
            return Err(DpopError::WrongAccessToken);
        }
    }
    Ok(DpopProof {
        // From the key as parsed, so one key has one thumbprint whatever its JWK's encoding.
        jkt: jwk_thumbprint(&key.to_jwk()).map_err(DpopError::Key)?,
        jti: claims.jti,
        iat: claims.iat,
        nonce: claims.nonce,
    })
}

/// The JWK SHA-256 thumbprint (RFC 7638 §3): the required members of the key, in lexicographic
/// order, without whitespace, hashed; base64url.
///
/// # Errors
/// [`JoseError::InvalidKey`] for a key type without its required members.
pub fn jwk_thumbprint(jwk: &Jwk) -> Result<String, JoseError> {
    let member = |value: &Option<String>| {
        value
            .clone()
            .ok_or(JoseError::InvalidKey("JWK lacks a required member"))
    };
    // serde_json writes strings with RFC 7638's escaping; a map keyed by &str sorts the members.
    let mut members = std::collections::BTreeMap::new();
    members.insert("kty", jwk.kty.clone());
    match jwk.kty.as_str() {
        "EC" => {
            members.insert("crv", member(&jwk.crv)?);
            members.insert("x", member(&jwk.x)?);
            members.insert("y", member(&jwk.y)?);
        }
        "OKP" => {
            members.insert("crv", member(&jwk.crv)?);
            members.insert("x", member(&jwk.x)?);
        }
        "RSA" => {
            members.insert("e", member(&jwk.e)?);
            members.insert("n", member(&jwk.n)?);
        }
        _ => return Err(JoseError::InvalidKey("unsupported key type")),
    }
    let canonical =
        serde_json::to_vec(&members).map_err(|_| JoseError::Crypto("thumbprint serialization"))?;
    Ok(base64url::encode(sha256(&canonical)))
}

/// An `htu` (or a request's URL) as RFC 9449 §4.3 compares it: scheme and host in lower case,
/// the default port dropped, an empty path as `/`, without query and fragment (RFC 3986 §6.2.2,
/// §6.2.3). `None` for anything but an absolute `http(s)` URL without user information.
pub fn normalize_htu(url: &str) -> Option<String> {
    let url = url.split('#').next()?.split('?').next()?;
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let (host, port) = split_authority(authority)?;
    let host = host.to_ascii_lowercase();
    let authority = match port {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host,
    };
    Some(format!("{scheme}://{authority}{path}"))
}

/// An authority's host (a name, an IPv4 address or a bracketed IPv6 address) and port (digits),
/// or `None` for anything else (user information, several ports, stray characters).
fn split_authority(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        let port = match rest {
            "" => None,
            rest => Some(rest.strip_prefix(':')?),
        };
        let inside = &host[1..host.len() - 1];
        if inside.is_empty()
            || !inside
                .bytes()
                .all(|byte| byte.is_ascii_hexdigit() || b":.".contains(&byte))
        {
            return None;
        }
        (host, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let name = |byte: u8| byte.is_ascii_alphanumeric() || b".-_".contains(&byte);
        if host.is_empty() || !host.bytes().all(name) {
            return None;
        }
        (host, port)
    };
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len()) && port.bytes().all(|byte| byte.is_ascii_digit())
    });
    port_ok.then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    const URL: &str = "https://server.example.com/token";

    fn expectations(access_token: Option<&str>) -> DpopExpectations<'_> {
        DpopExpectations {
            method: "POST",
            url: URL,
            now: 1_000,
            max_age_secs: 60,
            leeway_secs: 5,
            access_token,
        }
    }

    /// A proof signed by `key`, with `header` members added to the usual ones and `claims`.
    fn proof(key: &SigningKey, header: serde_json::Value, claims: serde_json::Value) -> String {
        let mut jwk = serde_json::to_value(key.verifying_key().to_jwk()).expect("jwk");
        if let Some(object) = jwk.as_object_mut() {
            for member in ["kid", "alg", "use"] {
                object.remove(member);
            }
        }
        let mut full =
            serde_json::json!({"typ": DPOP_TYP, "alg": key.algorithm().as_str(), "jwk": jwk});
        if let (Some(full), Some(extra)) = (full.as_object_mut(), header.as_object()) {
            full.extend(extra.clone());
        }
        let signing_input = format!(
            "{}.{}",
            base64url::encode(full.to_string()),
            base64url::encode(claims.to_string())
        );
        let signature = key.sign(signing_input.as_bytes()).expect("sign");
        format!("{signing_input}.{}", base64url::encode(signature))
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"jti": "j1", "htm": "POST", "htu": URL, "iat": 1_000})
    }

    #[test]
    fn a_proof_of_each_algorithm_verifies_and_names_its_key() {
        for alg in Algorithm::ALL {
            let key = SigningKey::generate(alg, "k".into()).expect("key");
            let verified = verify_proof(
                &proof(&key, serde_json::json!({}), claims()),
                &expectations(None),
            )
            .expect("valid proof");
            let mut jwk = key.verifying_key().to_jwk();
            jwk.kid = None;
            assert_eq!(verified.jkt, jwk_thumbprint(&jwk).expect("thumbprint"));
            assert_eq!(verified.jti, "j1");
        }
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s_example() {
        // RFC 7638 §3.1.
        let jwk = Jwk {
            kty: "RSA".into(),
            kid: None,
            key_use: None,
            alg: None,
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into()),
            e: Some("AQAB".into()),
        };
        assert_eq!(
            jwk_thumbprint(&jwk).expect("thumbprint"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn every_defect_of_rfc_9449_section_4_3_is_refused() {
        let key = SigningKey::generate(Algorithm::Es256, "k".into()).expect("key");
        let with =
            |header: serde_json::Value, claims: serde_json::Value| proof(&key, header, claims);
        let claim = |name: &str, value: serde_json::Value| {
            let mut claims = claims();
            claims[name] = value;
            claims
        };
        let cases = [
            (with(serde_json::json!({"typ": "JWT"}), claims()), "typ"),
            (
                with(serde_json::json!({"alg": "HS256"}), claims()),
                "symmetric alg",
            ),
            (
                with(serde_json::json!({"alg": "none"}), claims()),
                "alg none",
            ),
            (
                with(serde_json::json!({"alg": "RS256"}), claims()),
                "alg of another key type",
            ),
            (
                with(serde_json::json!({"kid": "k"}), claims()),
                "kid instead of jwk",
            ),
            (with(serde_json::json!({"crit": ["x"]}), claims()), "crit"),
            (
                with(serde_json::json!({}), claim("htm", "GET".into())),
                "htm",
            ),
            (
                with(
                    serde_json::json!({}),
                    claim("htu", "https://server.example.com/other".into()),
                ),
                "htu",
            ),
            (
                with(
                    serde_json::json!({}),
                    claim("htu", "https://evil.example/token".into()),
                ),
                "htu host",
            ),
            (
                with(serde_json::json!({}), claim("iat", 900.into())),
                "stale iat",
            ),
            (
                with(serde_json::json!({}), claim("iat", 1_010.into())),
                "iat from the future",
            ),
            (
                with(serde_json::json!({}), claim("jti", "".into())),
                "empty jti",
            ),
        ];
        for (proof, what) in cases {
            assert!(verify_proof(&proof, &expectations(None)).is_err(), "{what}");
        }
        // A private key in the header.
        let mut private = proof(&key, serde_json::json!({}), claims());
        let header = private.split('.').next().expect("header").to_owned();
        let mut object: serde_json::Value =
            serde_json::from_slice(&base64url::decode(&header).expect("b64")).expect("json");
        object["jwk"]["d"] = "secret".into();
        private = private.replacen(&header, &base64url::encode(object.to_string()), 1);
        assert!(matches!(
            verify_proof(&private, &expectations(None)),
            Err(DpopError::Malformed("jwk carries a private key"))
        ));
        // Another key's signature.
        let other = SigningKey::generate(Algorithm::Es256, "o".into()).expect("key");
        let genuine = proof(&key, serde_json::json!({}), claims());
        let forged_signature = proof(&other, serde_json::json!({}), claims());
        let swapped = format!(
            "{}.{}",
            genuine.rsplit_once('.').expect("parts").0,
            forged_signature.rsplit_once('.').expect("parts").1
        );
        assert!(matches!(
            verify_proof(&swapped, &expectations(None)),
            Err(DpopError::Key(JoseError::BadSignature))
        ));
    }

    #[test]
    fn at_a_resource_ath_must_hash_the_access_token() {
        let key = SigningKey::generate(Algorithm::EdDsa, "k".into()).expect("key");
        let ath = base64url::encode(sha256(b"the-token"));
        let mut claims = claims();
        claims["ath"] = ath.into();
        let bound = proof(&key, serde_json::json!({}), claims);
        assert!(verify_proof(&bound, &expectations(Some("the-token"))).is_ok());
        assert_eq!(
            verify_proof(&bound, &expectations(Some("another-token"))),
            Err(DpopError::WrongAccessToken)
        );
        let without = proof(&key, serde_json::json!({}), super::tests::claims());
        assert_eq!(
            verify_proof(&without, &expectations(Some("the-token"))),
            Err(DpopError::WrongAccessToken)
        );
    }

    #[test]
    fn urls_are_compared_normalized() {
        for (given, normal) in [
            (
                "HTTPS://Server.Example.COM:443/token?x=1#f",
                Some("https://server.example.com/token"),
            ),
            ("http://127.0.0.1:80", Some("http://127.0.0.1/")),
            (
                "http://127.0.0.1:4000/users/me",
                Some("http://127.0.0.1:4000/users/me"),
            ),
            ("https://user@server.example.com/token", None),
            ("https://api.example:443:443/x", None),
            ("https://api.example:/x", None),
            ("http://[::1]:8080/x", Some("http://[::1]:8080/x")),
            ("https://[::1]:443", Some("https://[::1]/")),
            ("ftp://server.example.com/token", None),
            ("/token", None),
        ] {
            assert_eq!(normalize_htu(given).as_deref(), normal, "{given}");
        }
    }
}
