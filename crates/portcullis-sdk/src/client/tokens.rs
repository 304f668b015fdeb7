//! The token endpoint's answers (RFC 6749 §5.1, §5.2) as any provider sends them.

use super::ClientError;
use portcullis_jose::http_answer::{read_limited, transport_error};
use serde::{Deserialize, Serialize};

/// Tokens from the provider. Its `Debug` shows none of them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// The access token.
    pub access_token: String,
    /// `Bearer`, or `DPoP`.
    pub token_type: String,
    /// Seconds until the access token expires, when the provider says.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// A refresh token, when one was issued.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The id token of an OpenID Connect sign-in.
    #[serde(default)]
    pub id_token: Option<String>,
    /// The granted scope, when the provider says.
    #[serde(default)]
    pub scope: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Tokens")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// An error answer (RFC 6749 §5.2), with any code a provider may send.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The tokens of a token endpoint's answer, or its error.
pub(super) async fn answer(
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<Tokens, ClientError> {
    let response = sent.map_err(|error| ClientError::Provider(transport_error(error)))?;
    let status = response.status();
    let body = read_limited(response, MAX_ANSWER_BYTES)
        .await
        .map_err(ClientError::Provider)?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|_| {
            ClientError::Provider("the token endpoint answered what is not a token response".into())
        });
    }
    // RFC 6749 §5.2 refusals are 400 or 401; a 5xx (or a 429) is the provider failing, whatever
    // its body says, and no reason to give up a grant.
    let refusal =
        status == reqwest::StatusCode::BAD_REQUEST || status == reqwest::StatusCode::UNAUTHORIZED;
    match serde_json::from_slice::<ErrorAnswer>(&body)
        .ok()
        .filter(|_| refusal)
    {
        Some(error) => Err(ClientError::Refused {
            code: error.error,
            description: error.error_description,
        }),
        None => Err(ClientError::Provider(format!(
            "the token endpoint answered {status}"
        ))),
    }
}

/// A JSON document at `url`, answered 200.
pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|error| format!("{url}: {}", transport_error(error)))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!("{url}: status {}", response.status()));
    }
    let body = read_limited(response, MAX_ANSWER_BYTES)
        .await
        .map_err(|error| format!("{url}: {error}"))?;
    serde_json::from_slice(&body).map_err(|error| format!("{url}: {error}"))
}

/// Most bytes of a provider's answer read (metadata and token responses are a few KB).
const MAX_ANSWER_BYTES: usize = 256 * 1024;
