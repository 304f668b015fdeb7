//! Reading client credentials at the token endpoint (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, `private_key_jwt` (RFC 7523 §2.2), or a public client's `client_id`
//! alone. Checking them is the service
//! layer's (`portcullis_service::tokens::authenticate_client`).

use crate::error::OAuthError;
use crate::form::OAuthParams;
use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use portcullis_service::tokens::{self, PresentedCredentials};

/// Reads the client's credentials from the `Authorization: Basic` header or the body.
///
/// # Errors
/// `invalid_request` when two methods are combined (RFC 6749 §2.3: a client MUST NOT use more
/// than one) or the Basic header is malformed; `Ok(None)` when the request names no client.
pub fn presented_credentials(
    headers: &HeaderMap,
    params: &OAuthParams,
) -> Result<Option<PresentedCredentials>, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(assertion) = presented_assertion(headers, params)? {
        return Ok(Some(assertion));
    }
    let Some(authorization) = headers.get(header::AUTHORIZATION) else {
        return Ok(body_id.map(|client_id| PresentedCredentials {
            client_id: client_id.to_owned(),
            secret: body_secret.map(str::to_owned),
            assertion: None,
        }));
    };
    let basic = parse_basic(authorization.to_str().unwrap_or_default())
        .ok_or_else(|| OAuthError::invalid_request("malformed Basic authorization header"))?;
    if body_secret.is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not both Basic and client_secret",
        ));
    }
    if body_id.is_some_and(|id| id != basic.client_id) {
        return Err(OAuthError::invalid_request(
            "client_id does not match the Basic credentials",
        ));
    }
    Ok(Some(basic))
}

/// A `private_key_jwt` assertion (RFC 7523 §2.2): `client_assertion_type` names the JWT bearer
/// type and `client_assertion` is the JWT, alone (no Basic header, no secret); the client is the
/// assertion's `sub`, which a `client_id` in the form must match (RFC 7521 §4.2).
fn presented_assertion(
    headers: &HeaderMap,
    params: &OAuthParams,
) -> Result<Option<PresentedCredentials>, OAuthError> {
    let (assertion_type, assertion) = match (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    ) {
        (None, None) => return Ok(None),
        (Some(kind), Some(assertion)) => (kind, assertion),
        _ => {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together",
            ));
        }
    };
    if assertion_type != tokens::JWT_BEARER_ASSERTION {
        return Err(OAuthError::invalid_request(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    if headers.contains_key(header::AUTHORIZATION) || params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not an assertion and a secret",
        ));
    }
    let Some(client_id) = tokens::claimed_client_id(assertion) else {
        return Err(OAuthError::invalid_client());
    };
    if params.get("client_id").is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_request(
            "client_id does not match the assertion's subject",
        ));
    }
    Ok(Some(PresentedCredentials {
        client_id,
        secret: None,
        assertion: Some(assertion.to_owned()),
    }))
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(client_id) ":" urlencode(client_secret))`.
fn parse_basic(value: &str) -> Option<PresentedCredentials> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    // application/x-www-form-urlencoded decoding: `+` is a space, then percent-decoding.
    let unescape = |text: &str| -> Option<String> {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|decoded| decoded.into_owned())
    };
    let client_id = unescape(id)?;
    (!client_id.is_empty()).then_some(PresentedCredentials {
        client_id,
        secret: Some(unescape(secret)?),
        assertion: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn params(body: &str) -> OAuthParams {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        OAuthParams::from_form_body(&headers, body.as_bytes()).expect("form")
    }

    fn basic(credentials: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(credentials));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).expect("header"),
        );
        headers
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let presented = presented_credentials(&basic("my%3Aclient:p%40ss+word"), &params(""));
        assert_eq!(
            presented.expect("valid"),
            Some(PresentedCredentials {
                client_id: "my:client".into(),
                secret: Some("p@ss word".into()),
                assertion: None,
            })
        );
    }

    #[test]
    fn mixing_methods_or_malformed_headers_is_invalid_request() {
        assert!(presented_credentials(&basic("a:b"), &params("client_secret=b")).is_err());
        assert!(presented_credentials(&basic("a:b"), &params("client_id=other")).is_err());
        assert!(presented_credentials(&basic("a:b"), &params("client_id=a")).is_ok());
        assert!(presented_credentials(&basic("no-colon"), &params("")).is_err());
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert!(presented_credentials(&bearer, &params("")).is_err());
        assert_eq!(
            presented_credentials(&HeaderMap::new(), &params("")),
            Ok(None)
        );
    }
}
