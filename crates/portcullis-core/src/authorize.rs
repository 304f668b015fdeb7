//! Validation of authorization requests (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core
//! §3.1.2.1, RFC 9700 §2.1). The order matters: until the client and its redirect URI are known to
//! be genuine, errors are shown to the user and never redirected (RFC 6749 §4.1.2.1), so the
//! endpoint cannot be used as an open redirector.

use crate::client::is_absolute_uri;
use crate::{Client, ClientKind, ScopeSet, TokenPolicy, pkce};
use portcullis_types::GrantType;

mod decision;
pub use decision::{AuthorizationDecision, AuthorizationState, decide};

/// The raw parameters of an authorization request.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationParams {
    /// `client_id`
    pub client_id: Option<String>,
    /// `redirect_uri`
    pub redirect_uri: Option<String>,
    /// `response_type`
    pub response_type: Option<String>,
    /// `scope`
    pub scope: Option<String>,
    /// `state`
    pub state: Option<String>,
    /// `nonce`
    pub nonce: Option<String>,
    /// `code_challenge`
    pub code_challenge: Option<String>,
    /// `code_challenge_method`
    pub code_challenge_method: Option<String>,
    /// `prompt`
    pub prompt: Option<String>,
    /// `max_age`
    pub max_age: Option<String>,
    /// `login_hint`
    pub login_hint: Option<String>,
    /// `acr_values` (OpenID Connect Core §3.1.2.1), space-separated.
    pub acr_values: Option<String>,
    /// `resource` (RFC 8707), repeatable.
    pub resources: Vec<String>,
    /// `request`: a request object by value (OpenID Connect Core §6.1, RFC 9101).
    pub request: Option<String>,
    /// `request_uri`: a request object by reference (§6.2, RFC 9101, RFC 9126).
    pub request_uri: Option<String>,
    /// The parameters came from a pushed authorization request (RFC 9126), not the browser.
    pub pushed: bool,
}

/// The `prompt` values Portcullis understands (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Never show a page; fail with `login_required` or `consent_required` instead.
    None,
    /// Re-authenticate even with a live session.
    Login,
    /// Ask for consent even if it was given before.
    Consent,
}

/// A validated authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The exact redirect URI presented.
    pub redirect_uri: String,
    /// Requested scope, within the client's allowance.
    pub scope: ScopeSet,
    /// `state`, echoed unchanged.
    pub state: Option<String>,
    /// `nonce`, carried into the id token.
    pub nonce: Option<String>,
    /// S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt`.
    pub prompt: Option<Prompt>,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`, pre-filled on the sign-in page.
    pub login_hint: Option<String>,
    /// The weakest authentication class `acr_values` accepts, when it names one Portcullis knows.
    pub acr: Option<crate::Acr>,
    /// Audiences of the access token to be issued.
    pub audiences: Vec<String>,
}

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Client or redirect URI cannot be trusted: show an error page, never redirect.
    Untrusted(String),
    /// Report to the client at its (validated) redirect URI.
    Redirect {
        /// Where to send the error.
        redirect_uri: String,
        /// `state` to echo.
        state: Option<String>,
        /// RFC 6749 §4.1.2.1 error code.
        code: &'static str,
        /// `error_description`.
        description: String,
    },
}

/// Limits on echoed values, so a request cannot make the server store or reflect megabytes.
const MAX_PARAMETER_LENGTH: usize = 2048;

/// Whether `presented` matches `registered`: exactly, or for an `http` loopback IP redirect URI
/// with any port (RFC 8252 §7.3: native apps get an ephemeral port from the OS).
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    match (split_loopback(registered), split_loopback(presented)) {
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => host_a == host_b && rest_a == rest_b,
        _ => false,
    }
}

/// For `http://127.0.0.1[:port]/rest` or `http://[::1][:port]/rest`: (host, rest).
fn split_loopback(uri: &str) -> Option<(&str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let host = ["127.0.0.1", "[::1]"]
        .into_iter()
        .find(|host| after_scheme.starts_with(host))?;
    let mut rest = &after_scheme[host.len()..];
    if let Some(port_and_rest) = rest.strip_prefix(':') {
        let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &port_and_rest[digits..];
    }
    (rest.is_empty() || rest.starts_with(['/', '?'])).then_some((host, rest))
}

fn parse_prompt(prompt: &str) -> Result<Option<Prompt>, &'static str> {
    let mut parsed = None;
    for value in prompt.split(' ') {
        let next = match value {
            "none" => Prompt::None,
            "login" => Prompt::Login,
            "consent" => Prompt::Consent,
            _ => return Err("unsupported prompt value"),
        };
        if parsed.is_some_and(|previous| previous != next) {
            // OpenID Connect Core §3.1.2.1: `none` with any other value is an error; Portcullis
            // keeps it simple and accepts one value.
            return Err("prompt takes a single value");
        }
        parsed = Some(next);
    }
    Ok(parsed)
}

/// Validates an authorization request for `client` (looked up by `client_id`, `None` if unknown).
///
/// # Errors
/// [`AuthorizeError::Untrusted`] before the client and redirect URI are established,
/// [`AuthorizeError::Redirect`] after.
pub fn validate_authorization(
    client: Option<&Client>,
    params: &AuthorizationParams,
    policy: &TokenPolicy,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let untrusted = |message: &str| AuthorizeError::Untrusted(message.to_owned());
    let client_id = params
        .client_id
        .as_deref()
        .ok_or_else(|| untrusted("The request names no client (client_id is missing)."))?;
    let client = client.ok_or_else(|| untrusted("The application is not registered here."))?;
    let redirect_uri = params
        .redirect_uri
        .clone()
        .ok_or_else(|| untrusted("The request has no redirect_uri."))?;
    // RFC 6749 §3.1.2.3 and RFC 9700 §2.1: exact string matching against registered URIs.
    if !client
        .redirect_uris
        .iter()
        .any(|registered| redirect_uri_matches(registered, &redirect_uri))
    {
        return Err(untrusted(
            "The redirect_uri is not registered for this application.",
        ));
    }
    let state = params.state.clone();
    if state
        .as_ref()
        .is_some_and(|state| state.len() > MAX_PARAMETER_LENGTH)
    {
        return Err(untrusted("The state parameter is too long."));
    }
    let refuse = |code: &'static str, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        code,
        description: description.to_owned(),
    };
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(refuse("invalid_request", "response_type is required")),
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    // OpenID Connect Core §6: the edge replaces a request object by its verified parameters
    // (RFC 9101); one that reaches this point unopened is refused, never served as if its
    // parameters were not there, by value or by reference; a `request_uri` reaches this point
    // only when it names a pushed request.
    if params.request.is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects (the request parameter) are not supported",
        ));
    }
    if params.request_uri.is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(refuse(
            "unauthorized_client",
            "client may not use the authorization code grant",
        ));
    }
    let scope = match params.scope.as_deref() {
        None => ScopeSet::default(),
        Some(scope) => {
            ScopeSet::parse(scope).map_err(|_| refuse("invalid_scope", "scope is malformed"))?
        }
    };
    if !scope.is_subset(&client.scopes) {
        let missing: Vec<&str> = scope.not_in(&client.scopes).collect();
        return Err(refuse(
            "invalid_scope",
            &format!("scope not allowed for this client: {}", missing.join(" ")),
        ));
    }
    let code_challenge = match (
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    ) {
        (None, None) => None,
        (Some(challenge), Some("S256")) if pkce::is_valid_s256_challenge(challenge) => {
            Some(challenge.to_owned())
        }
        (Some(_), Some("S256")) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge is not a valid S256 challenge",
            ));
        }
        // RFC 7636 §4.3 makes `plain` the default method; RFC 9700 §2.1.1 says not to accept it.
        (Some(_), None | Some(_)) | (None, Some(_)) => {
            return Err(refuse(
                "invalid_request",
                "PKCE requires code_challenge with code_challenge_method=S256",
            ));
        }
    };
    // RFC 9700 §2.1.1: public clients MUST use PKCE.
    if client.kind == ClientKind::Public && code_challenge.is_none() {
        return Err(refuse(
            "invalid_request",
            "PKCE (S256) is required for this client",
        ));
    }
    let prompt = params
        .prompt
        .as_deref()
        .map(parse_prompt)
        .transpose()
        .map_err(|description| refuse("invalid_request", description))?
        .flatten();
    let max_age = params
        .max_age
        .as_deref()
        .map(|age| age.parse::<i64>().ok().filter(|age| *age >= 0))
        .map(|age| {
            age.ok_or_else(|| refuse("invalid_request", "max_age must be a non-negative integer"))
        })
        .transpose()?;
    let nonce = params.nonce.clone();
    if nonce
        .as_ref()
        .is_some_and(|nonce| nonce.len() > MAX_PARAMETER_LENGTH)
    {
        return Err(refuse("invalid_request", "nonce is too long"));
    }
    let login_hint = params.login_hint.clone().filter(|hint| hint.len() <= 256);
    let audiences = resolve_audiences(client, &params.resources, &scope, policy)
        .map_err(|description| refuse("invalid_target", &description))?;
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        redirect_uri,
        scope,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint,
        acr: params
            .acr_values
            .as_deref()
            .and_then(crate::Acr::weakest_requested),
        audiences,
    })
}

/// The audiences of tokens from this request: the requested resources (each allowed for the
/// client) or all of the client's audiences (the default audience for a client without any);
/// with `openid`, also the issuer itself, so the access token is accepted at the userinfo
/// endpoint.
fn resolve_audiences(
    client: &Client,
    resources: &[String],
    scope: &ScopeSet,
    policy: &TokenPolicy,
) -> Result<Vec<String>, String> {
    let allowed = policy.allowed_audiences(client);
    let mut audiences = if resources.is_empty() {
        allowed.to_vec()
    } else {
        for resource in resources {
            if !is_absolute_uri(resource) || resource.contains('#') {
                return Err("resource must be an absolute URI without a fragment".to_owned());
            }
            if !allowed.contains(resource) {
                return Err(format!("resource not allowed for this client: {resource}"));
            }
        }
        resources.to_vec()
    };
    if scope.contains("openid") {
        audiences.push(policy.issuer.clone());
    }
    audiences.sort();
    audiences.dedup();
    if audiences.is_empty() {
        return Err("client has no allowed audience".to_owned());
    }
    Ok(audiences)
}

#[cfg(test)]
mod tests;
