//! Token exchange (RFC 8693): a service that received a user's access token (the subject token)
//! trades it for a new one to call another service on the user's behalf. Portcullis's policy:
//!
//! * the exchanging client is confidential, allowed the grant, and named in the subject token's
//!   `aud` (it may only exchange tokens that were sent to it);
//! * the new token is for a target (`audience` or `resource`) the client may ask for, with a scope
//!   inside both the subject token's and the client's: scopes only narrow;
//! * it expires no later than the subject token, and keeps its `sid`, so it ends with the session;
//! * it says who acts (`act`, §4.1): the client, or the subject of an actor token the client got
//!   for itself, with any earlier actors nested inside. Impersonation (no `act`) is for clients
//!   given the scope [`IMPERSONATION_SCOPE`], and only when they send no actor token.

use super::{AccessGrant, GrantError, UserContext, resolve_audiences};
use crate::{Client, ClientKind, ScopeSet, TokenPolicy, UnixSeconds};
use portcullis_types::GrantType;
use serde::{Deserialize, Serialize};

/// RFC 8693 §3: the token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3: the token type of a JWT (Portcullis's access tokens are JWTs).
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// A client with this scope may impersonate: its exchanged tokens carry no `act`.
pub const IMPERSONATION_SCOPE: &str = "portcullis:impersonate";

/// The `act` claim (RFC 8693 §4.1): the party acting, and inside it the one before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting party.
    pub sub: String,
    /// The party that acted before it, for a chain of delegations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// What a valid, unrevoked subject token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectToken {
    /// `sub`.
    pub subject: String,
    /// `aud`.
    pub audiences: Vec<String>,
    /// `scope`.
    pub scope: ScopeSet,
    /// `exp`.
    pub expires_at: UnixSeconds,
    /// The user behind it, for tokens of a sign-in.
    pub user: Option<UserContext>,
    /// Its `act`, if it was itself exchanged.
    pub actor: Option<Actor>,
}

/// The parameters of a token exchange beyond the subject token.
#[derive(Debug, Clone, Default)]
pub struct TokenExchangeRequest {
    /// `scope`, if sent.
    pub scope: Option<String>,
    /// `resource` values (RFC 8707).
    pub resources: Vec<String>,
    /// `audience` values.
    pub audiences: Vec<String>,
    /// The subject of the actor token, when one was sent (and checked to be the client's own).
    pub actor_subject: Option<String>,
}

/// What the new token will be: its grant, its `act`, and its latest expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The grant.
    pub grant: AccessGrant,
    /// `act`; `None` for impersonation.
    pub actor: Option<Actor>,
}

/// Decides a token exchange for an authenticated `client` presenting `subject` at `now`.
///
/// # Errors
/// `unauthorized_client`, `invalid_grant` (the token is not meant for this client, or expires
/// now), `invalid_request` (no target), `invalid_target`, `invalid_scope`.
pub fn exchange(
    client: &Client,
    subject: &SubjectToken,
    request: &TokenExchangeRequest,
    policy: &TokenPolicy,
    now: UnixSeconds,
) -> Result<Exchange, GrantError> {
    if client.kind != ClientKind::Confidential || !client.allows_grant(GrantType::TokenExchange) {
        return Err(GrantError::UnauthorizedClient(
            "client is not allowed to exchange tokens".into(),
        ));
    }
    if !subject.audiences.contains(&client.id) {
        return Err(GrantError::InvalidGrant(
            "the subject token was not issued for this client".into(),
        ));
    }
    if request.resources.is_empty() && request.audiences.is_empty() {
        return Err(GrantError::InvalidRequest(
            "name the target service with audience or resource".into(),
        ));
    }
    let audiences = resolve_audiences(client, &request.resources, &request.audiences, policy)?;
    let allowed = subject
        .scope
        .filtered(|token| client.scopes.contains(token));
    let scope = match request.scope.as_deref() {
        None => allowed,
        Some(requested) => {
            let requested = ScopeSet::parse(requested)
                .map_err(|error| GrantError::InvalidScope(error.to_string()))?;
            let beyond: Vec<&str> = requested.not_in(&allowed).collect();
            if !beyond.is_empty() {
                return Err(GrantError::InvalidScope(format!(
                    "scope can only narrow; not in the subject token or not allowed: {}",
                    beyond.join(" ")
                )));
            }
            requested
        }
    };
    if scope.is_empty() {
        return Err(GrantError::InvalidScope(
            "no scope of the subject token is allowed for this client".into(),
        ));
    }
    let lifetime_secs = policy
        .access_token_lifetime(client)
        .min(subject.expires_at - now);
    if lifetime_secs <= 0 {
        return Err(GrantError::InvalidGrant(
            "the subject token has expired".into(),
        ));
    }
    let impersonates =
        client.scopes.contains(IMPERSONATION_SCOPE) && request.actor_subject.is_none();
    let actor = (!impersonates).then(|| Actor {
        sub: request
            .actor_subject
            .clone()
            .unwrap_or_else(|| client.id.clone()),
        act: subject.actor.clone().map(Box::new),
    });
    Ok(Exchange {
        grant: AccessGrant {
            grant_type: GrantType::TokenExchange,
            subject: subject.subject.clone(),
            client_id: client.id.clone(),
            scope,
            audiences,
            lifetime_secs,
            user: subject.user.clone(),
        },
        actor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientRegistration, SecretHash};

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: "https://auth.example".into(),
            default_audience: crate::token::DEFAULT_AUDIENCE.into(),
            default_access_token_lifetime_secs: 900,
            max_access_token_lifetime_secs: 3600,
        }
    }

    fn service(scopes: &[&str]) -> Client {
        ClientRegistration {
            id: "orders".into(),
            kind: ClientKind::Confidential,
            grant_types: vec![GrantType::TokenExchange],
            redirect_uris: vec![],
            scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            audiences: vec!["billing".into()],
            access_token_lifetime_secs: None,
            first_party: false,
            post_logout_redirect_uris: vec![],
            id_token_algorithm: None,
            keys: None,
            dpop_bound_access_tokens: false,
            backchannel_logout_uri: None,
            require_mfa: false,
            require_pushed_authorization_requests: false,
            client_name: None,
            request_uris: Vec::new(),
            request_object_signing_alg: None,
        }
        .into_client(Some(SecretHash::of("s")), 3600, 0)
        .expect("client")
    }

    fn subject() -> SubjectToken {
        SubjectToken {
            subject: "alice".into(),
            audiences: vec!["orders".into()],
            scope: ScopeSet::parse("read write openid").expect("scope"),
            expires_at: 1_300,
            user: None,
            actor: None,
        }
    }

    fn to_billing() -> TokenExchangeRequest {
        TokenExchangeRequest {
            audiences: vec!["billing".into()],
            ..TokenExchangeRequest::default()
        }
    }

    #[test]
    fn the_new_token_narrows_names_the_actor_and_expires_with_the_subject() {
        let exchanged = exchange(
            &service(&["read"]),
            &subject(),
            &to_billing(),
            &policy(),
            1_000,
        )
        .expect("exchange");
        assert_eq!(exchanged.grant.subject, "alice");
        assert_eq!(exchanged.grant.audiences, ["billing"]);
        assert_eq!(
            exchanged.grant.scope.to_string(),
            "read",
            "the intersection"
        );
        assert_eq!(
            exchanged.grant.lifetime_secs, 300,
            "no later than the subject token"
        );
        assert_eq!(
            exchanged.actor,
            Some(Actor {
                sub: "orders".into(),
                act: None
            })
        );
        let chained = SubjectToken {
            actor: Some(Actor {
                sub: "web".into(),
                act: None,
            }),
            ..subject()
        };
        let request = TokenExchangeRequest {
            actor_subject: Some("orders-worker".into()),
            ..to_billing()
        };
        let exchanged =
            exchange(&service(&["read"]), &chained, &request, &policy(), 1_000).expect("exchange");
        let actor = exchanged.actor.expect("act");
        assert_eq!(actor.sub, "orders-worker");
        assert_eq!(actor.act.map(|previous| previous.sub), Some("web".into()));
    }

    #[test]
    fn impersonation_needs_the_scope_and_no_actor_token() {
        let impersonator = service(&["read", IMPERSONATION_SCOPE]);
        let exchanged =
            exchange(&impersonator, &subject(), &to_billing(), &policy(), 1_000).expect("exchange");
        assert_eq!(exchanged.actor, None);
        assert_eq!(
            exchanged.grant.scope.to_string(),
            "read",
            "the capability itself is not passed on"
        );
        let with_actor = TokenExchangeRequest {
            actor_subject: Some("orders".into()),
            ..to_billing()
        };
        let exchanged =
            exchange(&impersonator, &subject(), &with_actor, &policy(), 1_000).expect("exchange");
        assert!(exchanged.actor.is_some());
    }

    #[test]
    fn refusals() {
        let code = |result: Result<Exchange, GrantError>| result.err().map(|error| error.code());
        let elsewhere = SubjectToken {
            audiences: vec!["someone-else".into()],
            ..subject()
        };
        assert_eq!(
            code(exchange(
                &service(&["read"]),
                &elsewhere,
                &to_billing(),
                &policy(),
                1_000
            )),
            Some(portcullis_types::OAuthErrorCode::InvalidGrant)
        );
        let broader = TokenExchangeRequest {
            scope: Some("read admin".into()),
            ..to_billing()
        };
        assert_eq!(
            code(exchange(
                &service(&["read", "admin"]),
                &subject(),
                &broader,
                &policy(),
                1_000
            )),
            Some(portcullis_types::OAuthErrorCode::InvalidScope)
        );
        let unknown_target = TokenExchangeRequest {
            audiences: vec!["payroll".into()],
            ..to_billing()
        };
        assert_eq!(
            code(exchange(
                &service(&["read"]),
                &subject(),
                &unknown_target,
                &policy(),
                1_000
            )),
            Some(portcullis_types::OAuthErrorCode::InvalidTarget)
        );
        assert_eq!(
            code(exchange(
                &service(&["read"]),
                &subject(),
                &TokenExchangeRequest::default(),
                &policy(),
                1_000
            )),
            Some(portcullis_types::OAuthErrorCode::InvalidRequest)
        );
        assert_eq!(
            code(exchange(
                &service(&["admin"]),
                &subject(),
                &to_billing(),
                &policy(),
                1_000
            )),
            Some(portcullis_types::OAuthErrorCode::InvalidScope),
            "nothing in common"
        );
        assert_eq!(
            code(exchange(
                &service(&["read"]),
                &subject(),
                &to_billing(),
                &policy(),
                1_300
            )),
            Some(portcullis_types::OAuthErrorCode::InvalidGrant),
            "expired"
        );
        let mut no_grant = service(&["read"]);
        no_grant.grant_types = vec![GrantType::ClientCredentials];
        assert_eq!(
            code(exchange(
                &no_grant,
                &subject(),
                &to_billing(),
                &policy(),
                1_000
            )),
            Some(portcullis_types::OAuthErrorCode::UnauthorizedClient)
        );
    }
}
