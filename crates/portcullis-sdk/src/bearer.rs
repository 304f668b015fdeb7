//! Reading the access token of a request: `Authorization: Bearer` (RFC 6750 §2.1) or, for a
//! token bound to the client's key, `Authorization: DPoP` (RFC 9449 §7.1).

use http::{HeaderMap, header};

/// Why a request's `Authorization` header gives no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// No bearer token at all (RFC 6750 §3.1: answer without an error code).
    Missing,
    /// More than one `Authorization` header, or a malformed one.
    Malformed,
}

/// How a request presents its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    /// `Authorization: Bearer`: whoever holds the token may use it.
    Bearer,
    /// `Authorization: DPoP`: the token is bound to a key, proved by the `DPoP` header.
    Dpop,
}

/// The token of exactly one `Authorization: Bearer <token>` header.
///
/// # Errors
/// [`BearerError`].
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    match access_token(headers)? {
        (TokenScheme::Bearer, token) => Ok(token),
        (TokenScheme::Dpop, _) => Err(BearerError::Missing),
    }
}

/// The scheme and token of exactly one `Authorization: Bearer <token>` or
/// `Authorization: DPoP <token>` header (schemes in any letter case, RFC 9110 §11.1).
///
/// # Errors
/// [`BearerError`].
pub fn access_token(headers: &HeaderMap) -> Result<(TokenScheme, &str), BearerError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::Malformed);
    }
    let value = value.to_str().map_err(|_| BearerError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(BearerError::Malformed)?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        TokenScheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        TokenScheme::Dpop
    } else {
        return Err(BearerError::Missing);
    };
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(BearerError::Malformed);
    }
    Ok((scheme, token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn bearer_header_parsing() {
        let with = |values: &[&'static str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(header::AUTHORIZATION, HeaderValue::from_static(value));
            }
            bearer_token(&headers).map(str::to_owned)
        };
        assert_eq!(with(&["Bearer abc"]), Ok("abc".into()));
        assert_eq!(with(&["bearer abc"]), Ok("abc".into()));
        assert_eq!(with(&[]), Err(BearerError::Missing));
        assert_eq!(with(&["Basic abc"]), Err(BearerError::Missing));
        assert_eq!(with(&["Bearer"]), Err(BearerError::Malformed));
        assert_eq!(with(&["Bearer a b"]), Err(BearerError::Malformed));
        assert_eq!(with(&["Bearer a", "Bearer b"]), Err(BearerError::Malformed));
        assert_eq!(
            with(&["DPoP abc"]),
            Err(BearerError::Missing),
            "not a bearer token"
        );
        let mut headers = HeaderMap::new();
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("dpop abc"));
        assert_eq!(access_token(&headers), Ok((TokenScheme::Dpop, "abc")));
    }
}
