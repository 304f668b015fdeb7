//! Forged and malformed access tokens: the corpus every verifier of Portcullis tokens (the gateway,
//! the SDK) must refuse. Header tricks are signed with the issuer's *real* key, so a refusal proves
//! the check itself and not merely a bad signature.

use aws_lc_rs::hmac;
use portcullis_jose::{SigningKey, base64url};
use portcullis_types::{Jwk, JwkSet};
use serde_json::{Value, json};

/// Makes tokens from the issuer's real signing key and a valid set of claims.
pub struct TokenForge {
    key: std::sync::Arc<SigningKey>,
    claims: Value,
    jwks: JwkSet,
    now: i64,
}

impl TokenForge {
    /// `claims` must make a valid access token when signed with `key` (`typ: at+jwt`); `jwks` is
    /// what the issuer publishes.
    pub fn new(key: std::sync::Arc<SigningKey>, claims: Value, jwks: JwkSet, now: i64) -> Self {
        TokenForge {
            key,
            claims,
            jwks,
            now,
        }
    }

    fn header(&self) -> Value {
        json!({"alg": self.key.algorithm().as_str(), "kid": self.key.kid(), "typ": "at+jwt"})
    }

    /// Signs any header and payload bytes with the real key.
    fn signed(&self, header: &Value, payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            base64url::encode(header.to_string()),
            base64url::encode(payload)
        );
        let signature = self.key.sign(input.as_bytes()).expect("sign");
        format!("{input}.{}", base64url::encode(signature))
    }

    /// A genuine token: the baseline every case is derived from.
    pub fn valid(&self) -> String {
        self.signed(&self.header(), self.claims.to_string().as_bytes())
    }

    fn with_claims(&self, patch: &Value) -> String {
        let mut claims = self.claims.clone();
        for (name, value) in patch.as_object().expect("object") {
            if value.is_null() {
                claims.as_object_mut().expect("object").remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        self.signed(&self.header(), claims.to_string().as_bytes())
    }

    fn with_header(&self, patch: &Value) -> String {
        let mut header = self.header();
        for (name, value) in patch.as_object().expect("object") {
            if value.is_null() {
                header.as_object_mut().expect("object").remove(name);
            } else {
                header[name] = value.clone();
            }
        }
        self.signed(&header, self.claims.to_string().as_bytes())
    }

    fn unsigned(header: &Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            base64url::encode(header.to_string()),
            base64url::encode(claims.to_string()),
            base64url::encode(signature)
        )
    }

    fn hmac(&self, alg: &str, secret: &[u8]) -> String {
        let algorithm = match alg {
            "HS256" => hmac::HMAC_SHA256,
            "HS384" => hmac::HMAC_SHA384,
            _ => hmac::HMAC_SHA512,
        };
        let header = json!({"alg": alg, "kid": self.key.kid(), "typ": "at+jwt"});
        let input = format!(
            "{}.{}",
            base64url::encode(header.to_string()),
            base64url::encode(self.claims.to_string())
        );
        let tag = hmac::sign(&hmac::Key::new(algorithm, secret), input.as_bytes());
        format!("{input}.{}", base64url::encode(tag.as_ref()))
    }

    /// Every hostile token, named by its defect.
    pub fn corpus(&self) -> Vec<(String, String)> {
        let mut cases: Vec<(String, String)> = Vec::new();
        let mut add = |name: &str, token: String| cases.push((name.to_owned(), token));
        let valid = self.valid();
        let kid = self.key.kid().to_owned();

        // alg "none" in every casing, with and without a signature (RFC 8725 §3.1).
        for alg in ["none", "None", "NONE", "nOnE"] {
            let header = json!({"alg": alg, "kid": kid, "typ": "at+jwt"});
            add(
                &format!("alg {alg}, empty signature"),
                Self::unsigned(&header, &self.claims, b""),
            );
            add(
                &format!("alg {alg}, some signature"),
                Self::unsigned(&header, &self.claims, b"sig"),
            );
        }

        // HMAC signed with the public key in every form a confused verifier might use as secret.
        let mut secrets: Vec<(String, Vec<u8>)> = vec![(
            "the JWKS document".into(),
            serde_json::to_vec(&self.jwks).expect("json"),
        )];
        for jwk in &self.jwks.keys {
            let label = jwk.kid.clone().unwrap_or_default();
            secrets.push((
                format!("JWK {label}"),
                serde_json::to_vec(jwk).expect("json"),
            ));
            for (form, bytes) in public_key_forms(jwk) {
                secrets.push((format!("{form} of {label}"), bytes));
            }
        }
        for (form, secret) in &secrets {
            for alg in ["HS256", "HS384", "HS512"] {
                add(&format!("{alg} keyed with {form}"), self.hmac(alg, secret));
            }
        }

        // Header members that would let the token choose its own key, or that demand unknown
        // processing; all signed by the real key.
        let attacker = SigningKey::generate(self.key.algorithm(), kid.clone()).expect("key");
        let attacker_jwk = serde_json::to_value(attacker.public_jwk()).expect("jwk");
        for (name, patch) in [
            ("embedded jwk", json!({"jwk": attacker_jwk})),
            ("jku", json!({"jku": "http://127.0.0.1:9/jwks.json"})),
            ("x5u", json!({"x5u": "http://127.0.0.1:9/cert.pem"})),
            ("x5c", json!({"x5c": ["MIIBszCCAVmgAwIBAgIUQ2E="]})),
            (
                "crit with an unknown extension",
                json!({"crit": ["x-portcullis"], "x-portcullis": true}),
            ),
            ("no typ", json!({"typ": null})),
            ("id token typ JWT", json!({"typ": "JWT"})),
            ("typ of another token", json!({"typ": "dpop+jwt"})),
            (
                "alg label RS256 on an ES256 signature",
                json!({"alg": "RS256"}),
            ),
            ("alg label EdDSA", json!({"alg": "EdDSA"})),
            ("alg label ES384", json!({"alg": "ES384"})),
            ("no alg", json!({"alg": null})),
            ("alg not a string", json!({"alg": 256})),
        ] {
            add(name, self.with_header(&patch));
        }
        let duplicate_alg = format!(
            "{}.{}",
            base64url::encode(format!(
                r#"{{"alg":"{}","kid":"{kid}","typ":"at+jwt","alg":"none"}}"#,
                self.key.algorithm().as_str()
            )),
            base64url::encode(self.claims.to_string())
        );
        let signature = self.key.sign(duplicate_alg.as_bytes()).expect("sign");
        add(
            "duplicate alg header member",
            format!("{duplicate_alg}.{}", base64url::encode(signature)),
        );

        // Keys the issuer never published, including hostile kid values.
        for hostile_kid in [
            "unknown-kid",
            "../../../../etc/passwd",
            "' OR '1'='1' --",
            "%00",
            "kid\u{0}nul",
            &"k".repeat(4096),
        ] {
            let stranger =
                SigningKey::generate(self.key.algorithm(), hostile_kid.to_owned()).expect("key");
            let token = portcullis_jose::sign_compact(
                self.claims.to_string().as_bytes(),
                "at+jwt",
                &stranger,
            )
            .expect("sign");
            add(&format!("kid {:.40}", hostile_kid.escape_debug()), token);
        }
        add(
            "a foreign key using the issuer's kid",
            portcullis_jose::sign_compact(self.claims.to_string().as_bytes(), "at+jwt", &attacker)
                .expect("sign"),
        );

        // Tampering with a genuine token.
        let (head, signature) = valid.rsplit_once('.').expect("parts");
        let (header_b64, _) = head.split_once('.').expect("parts");
        let mut escalated = self.claims.clone();
        escalated["sub"] = json!("admin");
        escalated["scope"] = json!("read write admin");
        add(
            "tampered payload",
            format!(
                "{header_b64}.{}.{signature}",
                base64url::encode(escalated.to_string())
            ),
        );
        let mut flipped = valid.clone();
        let last = flipped.pop().expect("char");
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        add("flipped signature bit", flipped);
        add("stripped signature", format!("{head}."));
        add("two parts", head.to_owned());
        add("four parts", format!("{valid}.extra"));
        add("empty", String::new());
        add("dots only", "..".into());
        add(
            "not base64url",
            format!("{header_b64}.*payload*.{signature}"),
        );
        add("padded base64", format!("{head}.{signature}=="));
        add(
            "header not JSON",
            format!(
                "{}.{}.{signature}",
                base64url::encode("{\"alg\":"),
                head.split_once('.').expect("parts").1
            ),
        );
        add("payload not JSON", self.signed(&self.header(), b"not json"));
        add(
            "payload a JSON array",
            self.signed(&self.header(), b"[1,2]"),
        );
        let claims_text = self.claims.to_string();
        let duplicate_sub = format!(
            "{},\"sub\":\"admin\"}}",
            claims_text.strip_suffix('}').expect("object")
        );
        add(
            "duplicate sub claim",
            self.signed(&self.header(), duplicate_sub.as_bytes()),
        );
        let duplicate_scope = format!(
            "{},\"scope\":\"admin\"}}",
            claims_text.strip_suffix('}').expect("object")
        );
        add(
            "duplicate scope claim",
            self.signed(&self.header(), duplicate_scope.as_bytes()),
        );
        let mut huge = self.claims.clone();
        huge["padding"] = json!("x".repeat(17 * 1024));
        add(
            "oversized (17 KiB)",
            self.signed(&self.header(), huge.to_string().as_bytes()),
        );

        // Claims a verifier must check.
        for (name, patch) in [
            ("expired", json!({"exp": self.now - 3600})),
            ("not yet valid", json!({"nbf": self.now + 3600})),
            ("no exp", json!({"exp": null})),
            (
                "exp as a string",
                json!({"exp": (self.now + 300).to_string()}),
            ),
            ("wrong issuer", json!({"iss": "http://127.0.0.1:1"})),
            (
                "issuer with a trailing slash",
                json!({"iss": format!("{}/", self.claims["iss"].as_str().unwrap_or_default())}),
            ),
            ("no issuer", json!({"iss": null})),
            ("wrong audience", json!({"aud": "somebody-else"})),
            ("no audience", json!({"aud": null})),
        ] {
            add(name, self.with_claims(&patch));
        }
        cases
    }
}

/// The public key of `jwk` as PEM and raw bytes, the forms an HMAC-confusion attack feeds a
/// verifier that accepts a key's bytes as an HMAC secret.
fn public_key_forms(jwk: &Jwk) -> Vec<(String, Vec<u8>)> {
    let decode = |field: &Option<String>| {
        field
            .as_deref()
            .and_then(base64url::decode)
            .unwrap_or_default()
    };
    match jwk.kty.as_str() {
        "EC" => {
            let mut point = vec![4u8];
            point.extend(decode(&jwk.x));
            point.extend(decode(&jwk.y));
            // SubjectPublicKeyInfo of a P-256 key: fixed algorithm prefix, then the point.
            let mut spki = vec![
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
                0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ];
            spki.extend(&point);
            vec![
                ("PEM (SPKI)".into(), pem("PUBLIC KEY", &spki)),
                ("raw EC point".into(), point),
            ]
        }
        "RSA" => {
            let pkcs1 = der_sequence(&[der_integer(&decode(&jwk.n)), der_integer(&decode(&jwk.e))]);
            let algorithm = [
                0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
                0x00,
            ];
            let mut bit_string = vec![0u8];
            bit_string.extend(&pkcs1);
            let spki = der_sequence(&[algorithm.to_vec(), der(0x03, &bit_string)]);
            vec![
                ("PEM (SPKI)".into(), pem("PUBLIC KEY", &spki)),
                ("PEM (PKCS#1)".into(), pem("RSA PUBLIC KEY", &pkcs1)),
            ]
        }
        "OKP" => vec![("raw Ed25519 key".into(), decode(&jwk.x))],
        _ => Vec::new(),
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(u8::try_from(length).expect("short"));
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|byte| *byte == 0)
            .collect();
        out.push(0x80 | u8::try_from(bytes.len()).expect("length of length"));
        out.extend(bytes);
    }
    out.extend(content);
    out
}

fn der_integer(unsigned: &[u8]) -> Vec<u8> {
    let mut content = Vec::new();
    if unsigned.first().is_some_and(|byte| byte & 0x80 != 0) {
        content.push(0);
    }
    content.extend(unsigned);
    der(0x02, &content)
}

fn der_sequence(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
    .into_bytes()
}
