//! The provider's answer at the callback, checked: the `state` and RFC 9207 `iss` of the
//! redirect, the code redeemed with the PKCE verifier, the id token (signature, `iss`, `aud`,
//! `azp`, expiry, `nonce`: by the SDK's relying party), and the userinfo claims of the same
//! subject; then the claims as an upstream profile.

use super::Upstream;
use super::flow::Flow;
use portcullis_core::federation::{ProfileError, UpstreamProfile};
use portcullis_sdk::client::ClientError;
use serde_json::{Map, Value};

/// Why the provider's answer signs nobody in.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The redirect does not belong to this sign-in: a forged or replayed callback.
    #[error("forged callback: {0}")]
    Forged(String),
    /// The provider refused (`access_denied`, ...), with its description.
    #[error("the provider refused: {code}")]
    Refused {
        /// The OAuth error code.
        code: String,
        /// Its description, if any.
        description: Option<String>,
    },
    /// The provider cannot be reached, or its metadata is wrong.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered what this server cannot accept (an invalid id token, userinfo of
    /// another subject, no subject).
    #[error("the provider's answer is not valid: {0}")]
    Invalid(String),
}

impl From<ClientError> for AnswerError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::ForgedCallback(why) => AnswerError::Forged(why.to_owned()),
            ClientError::Refused { code, description } => {
                AnswerError::Refused { code, description }
            }
            ClientError::Provider(why) => AnswerError::Unavailable(why),
            ClientError::IssuerMismatch(issuer) => {
                AnswerError::Unavailable(format!("the metadata names issuer `{issuer}`"))
            }
            ClientError::Randomness => AnswerError::Unavailable("no randomness".to_owned()),
            ClientError::InvalidIdToken(why) | ClientError::InvalidLogoutToken(why) => {
                AnswerError::Invalid(why)
            }
        }
    }
}

impl From<ProfileError> for AnswerError {
    fn from(error: ProfileError) -> Self {
        AnswerError::Invalid(error.to_string())
    }
}

/// The profile of whoever signed in at `upstream`, from the redirect back whose query is
/// `query`. Upstream tokens are used here and dropped: never stored, never handed to clients.
///
/// # Errors
/// [`AnswerError`].
pub async fn profile(
    upstream: &Upstream,
    flow: &Flow,
    query: &str,
) -> Result<UpstreamProfile, AnswerError> {
    let relying_party = upstream.relying_party().await?;
    let code = relying_party.callback(&flow.pending, query)?;
    let (tokens, id_token) = relying_party.exchange(&flow.pending, &code).await?;
    let claims = match (upstream.is_openid(), id_token) {
        (true, Some(id_token)) => {
            let mut claims = id_token.claims;
            if relying_party.metadata().userinfo_endpoint.is_some() {
                // The id token is the proof; userinfo only adds claims, and a provider may
                // issue access tokens for other resources that its userinfo refuses (panva's
                // oidc-provider with resource indicators does).
                match relying_party.userinfo(&tokens.access_token).await {
                    Ok(userinfo) => merge_userinfo(&mut claims, userinfo)?,
                    Err(error) => tracing::info!(
                        provider = %upstream.settings.id,
                        %error,
                        "userinfo not read; the id token's claims alone"
                    ),
                }
            }
            claims
        }
        // OpenID Connect Core §3.1.3.3: the token response of an OpenID sign-in MUST carry
        // an id token.
        (true, None) => {
            return Err(AnswerError::Invalid(
                "the token response has no id token".to_owned(),
            ));
        }
        (false, _) => relying_party.userinfo(&tokens.access_token).await?,
    };
    let settings = &upstream.settings;
    Ok(UpstreamProfile::from_claims(
        &claims,
        &settings.claims,
        &settings.role_rules,
    )?)
}

/// Adds the userinfo claims the id token lacks. OpenID Connect Core §5.3.2: the userinfo `sub`
/// MUST be the id token's, or the answer is not used.
fn merge_userinfo(
    claims: &mut Map<String, Value>,
    userinfo: Map<String, Value>,
) -> Result<(), AnswerError> {
    if userinfo.get("sub") != claims.get("sub") {
        return Err(AnswerError::Invalid(
            "the userinfo answer names another subject".to_owned(),
        ));
    }
    for (name, value) in userinfo {
        claims.entry(name).or_insert(value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn userinfo_adds_claims_of_the_same_subject_only() {
        let mut claims = object(json!({"sub": "s-1", "email": "id@token"}));
        merge_userinfo(
            &mut claims,
            object(json!({"sub": "s-1", "email": "user@info", "groups": ["a"]})),
        )
        .expect("same subject");
        assert_eq!(claims["email"], "id@token", "the signed id token wins");
        assert_eq!(claims["groups"], json!(["a"]));
        for other in [json!({"sub": "s-2"}), json!({"email": "x"})] {
            assert!(matches!(
                merge_userinfo(&mut claims, object(other)),
                Err(AnswerError::Invalid(_))
            ));
        }
    }
}
