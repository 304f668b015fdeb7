//! Form-encoded OAuth request parameters (RFC 6749 §3.2, Appendix B).

use crate::error::OAuthError;
use axum::http::HeaderMap;
use portcullis_core::authorize::AuthorizationParams;

/// Parameters that may legitimately repeat: RFC 8707 §2 allows several `resource` values, and
/// `audience` follows the same rule here.
const REPEATABLE: [&str; 2] = ["resource", "audience"];

/// No OAuth request needs more; the cap also bounds the repeated-parameter check, which is
/// quadratic in the number of parameters.
const MAX_PARAMETERS: usize = 64;

/// The parsed parameters of a form-encoded request.
#[derive(Debug, Clone, Default)]
pub struct OAuthParams {
    pairs: Vec<(String, String)>,
}

impl OAuthParams {
    /// Parses a request body that must be `application/x-www-form-urlencoded`.
    ///
    /// # Errors
    /// `invalid_request` for another content type or a repeated parameter (RFC 6749 §3.2: request
    /// parameters MUST NOT be included more than once).
    pub fn from_form_body(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        if crate::media_type::media_type(headers) != "application/x-www-form-urlencoded" {
            return Err(OAuthError::invalid_request(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body).map_err(OAuthError::invalid_request)
    }

    /// Parses a query string (without the `?`).
    ///
    /// # Errors
    /// A description of the first problem: a repeated parameter or too many parameters.
    pub fn from_query(query: &str) -> Result<Self, String> {
        Self::parse(query.as_bytes())
    }

    fn parse(encoded: &[u8]) -> Result<Self, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (index, (name, value)) in form_urlencoded::parse(encoded).enumerate() {
            if index >= MAX_PARAMETERS {
                return Err("too many parameters".to_owned());
            }
            // RFC 6749 §3.1: parameters sent without a value are treated as omitted.
            if value.is_empty() {
                continue;
            }
            if !REPEATABLE.contains(&name.as_ref()) && pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(format!("parameter `{name}` is repeated"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(OAuthParams { pairs })
    }

    /// Every parameter except those named in `excluded`, in order.
    pub fn pairs_except(&self, excluded: &[&str]) -> Vec<(String, String)> {
        self.pairs
            .iter()
            .filter(|(name, _)| !excluded.contains(&name.as_str()))
            .cloned()
            .collect()
    }

    /// The parameters of an authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1).
    pub fn authorization_params(&self) -> AuthorizationParams {
        let get = |name: &str| self.get(name).map(str::to_owned);
        AuthorizationParams {
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            response_type: get("response_type"),
            scope: get("scope"),
            state: get("state"),
            nonce: get("nonce"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            prompt: get("prompt"),
            max_age: get("max_age"),
            login_hint: get("login_hint"),
            acr_values: get("acr_values"),
            resources: self.all("resource"),
            request: get("request"),
            request_uri: get("request_uri"),
            pushed: false,
        }
    }

    /// Parameters already parsed and checked (a pushed authorization request's, as stored).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        OAuthParams { pairs }
    }

    /// The value of a single-valued parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The values of the parameters whose names start with `prefix`: a group of HTML
    /// checkboxes, each named after its value, since a name may not repeat.
    pub fn values_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> {
        self.pairs
            .iter()
            .filter(move |(key, _)| key.starts_with(prefix))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a repeatable parameter.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn form_headers(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        headers
    }

    #[test]
    fn parses_and_enforces_single_parameters() {
        let headers = form_headers("application/x-www-form-urlencoded; charset=UTF-8");
        let params = OAuthParams::from_form_body(
            &headers,
            b"grant_type=client_credentials&scope=a+b&resource=x&resource=y&empty=",
        )
        .expect("valid");
        assert_eq!(params.get("scope"), Some("a b"));
        assert_eq!(params.all("resource"), ["x", "y"]);
        assert_eq!(params.get("empty"), None);
        assert!(OAuthParams::from_form_body(&headers, b"scope=a&scope=b").is_err());
        assert!(OAuthParams::from_form_body(&form_headers("application/json"), b"{}").is_err());
        assert!(OAuthParams::from_form_body(&HeaderMap::new(), b"a=b").is_err());
        let many: String = (0..=MAX_PARAMETERS).map(|i| format!("p{i}=v&")).collect();
        assert!(OAuthParams::from_form_body(&headers, many.as_bytes()).is_err());
    }
}
