//! Token exchange (RFC 8693 §2) at the token endpoint: the subject token (and an actor token, if
//! sent) must be valid, unrevoked access tokens of this server; the rest is the domain's decision
//! ([`portcullis_core::grant::token_exchange`]).

use super::minting;
use super::{TokenError, TokenIssuer};
use crate::inspection::is_revoked;
use portcullis_core::grant::UserContext;
use portcullis_core::grant::token_exchange::{
    self, ACCESS_TOKEN_TYPE, Actor, SubjectToken, TokenExchangeRequest,
};
use portcullis_core::{AuthMethod, AuthMethods, Client, ScopeSet};
use portcullis_jose::AccessTokenValidation;
use portcullis_types::{GrantType, OAuthErrorCode, TokenResponse};
use serde_json::{Map, Value};

impl TokenIssuer<'_> {
    /// Exchanges `subject_token` (and `actor_token`, both access tokens: their types were checked
    /// at the edge) for a new access token for `client`.
    pub(super) async fn exchange_token(
        &self,
        client: &Client,
        subject_token: &str,
        actor_token: Option<&str>,
        mut request: TokenExchangeRequest,
    ) -> Result<TokenResponse, TokenError> {
        let subject_claims = self.valid_token(subject_token, "subject_token").await?;
        if let Some(actor_token) = actor_token {
            let actor_claims = self.valid_token(actor_token, "actor_token").await?;
            // The actor token must be the client's own client-credentials token (its `sub` and
            // `client_id` are the client, with no session and no actor of its own): a token of a
            // user, even one issued to this client, would let it name that user as the actor.
            let text = |name: &str| actor_claims.get(name).and_then(Value::as_str);
            let own = text("client_id") == Some(client.id.as_str())
                && text("sub") == Some(client.id.as_str())
                && !actor_claims.contains_key("sid")
                && !actor_claims.contains_key("act");
            if !own {
                return Err(TokenError::refused(
                    OAuthErrorCode::InvalidGrant,
                    "the actor token must be this client's own client-credentials token",
                ));
            }
            request.actor_subject = Some(client.id.clone());
        }
        let now = self.clock.now();
        let subject = subject_of(&subject_claims)?;
        // A client that requires a second factor gets no token of a user who signed in without.
        if let Some(user) = &subject.user
            && self.mfa.required_acr(&user.roles, client.require_mfa, None) > user.amr.acr()
        {
            return Err(TokenError::refused(
                OAuthErrorCode::InvalidGrant,
                "subject_token comes from a sign-in without the second factor this client requires",
            ));
        }
        let exchanged = token_exchange::exchange(client, &subject, &request, self.policy, now)?;
        let mut claims = self.access_token_claims(&exchanged.grant)?;
        claims.act = exchanged.actor;
        let access = self.sign_access_token(claims, GrantType::TokenExchange.as_str())?;
        let mut response = minting::response(access, None, None);
        response.issued_token_type = Some(ACCESS_TOKEN_TYPE.to_owned());
        Ok(response)
    }

    /// The claims of `token` if it is one of this server's access tokens, valid now and not
    /// revoked; `invalid_grant` naming `parameter` otherwise (RFC 8693 §2.2.2).
    async fn valid_token(
        &self,
        token: &str,
        parameter: &str,
    ) -> Result<Map<String, Value>, TokenError> {
        let now = self.clock.now();
        let invalid = |why: &str| {
            TokenError::refused(OAuthErrorCode::InvalidGrant, format!("{parameter} {why}"))
        };
        let validated = AccessTokenValidation {
            issuer: self.policy.issuer.clone(),
            audience: None,
            leeway_secs: 0,
        }
        .validate(token, &self.keys.verification_keys(now), now)
        .map_err(|_| invalid("is not a valid access token of this server"))?;
        if is_revoked(self.store, &validated.claims, now).await? {
            return Err(invalid("has been revoked"));
        }
        Ok(validated.claims)
    }
}

/// What a validated subject token says, as the domain reads it.
fn subject_of(claims: &Map<String, Value>) -> Result<SubjectToken, TokenError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let malformed =
        || TokenError::refused(OAuthErrorCode::InvalidGrant, "subject_token is malformed");
    let audiences = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let user = match (text("sid"), text("preferred_username")) {
        (Some(sid), Some(username)) => Some(UserContext {
            username: username.to_owned(),
            roles: claims
                .get("roles")
                .and_then(Value::as_array)
                .map(|roles| {
                    roles
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            sid: sid.to_owned(),
            auth_time: claims
                .get("auth_time")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            // The subject token is ours and verified: how its user authenticated carries over.
            amr: AuthMethods::of(
                &claims
                    .get("amr")
                    .and_then(Value::as_array)
                    .map(|methods| {
                        methods
                            .iter()
                            .filter_map(Value::as_str)
                            .filter_map(AuthMethod::parse)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_else(|| vec![AuthMethod::Password]),
            ),
        }),
        _ => None,
    };
    Ok(SubjectToken {
        subject: text("sub").ok_or_else(malformed)?.to_owned(),
        audiences,
        scope: ScopeSet::parse(text("scope").unwrap_or_default()).map_err(|_| malformed())?,
        expires_at: claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(malformed)?,
        user,
        actor: claims
            .get("act")
            .map(|act| serde_json::from_value::<Actor>(act.clone()))
            .transpose()
            .map_err(|_| malformed())?,
    })
}
