//! The token endpoint's use cases (RFC 6749 §3.2, §4.1.3, §4.4, §6): authenticate the client,
//! decide the grant, mint the tokens, audit. `POST /login` mints through the same code, so every
//! issued token is audited and counted once.

mod client_assertion;
mod client_authentication;
mod code_exchange;
mod device_code;
mod error;
mod minting;
mod refresh;
mod token_exchange;

pub use client_assertion::{
    AssertionContext, ClientKeyResolver, JWT_BEARER_ASSERTION, claimed_client_id,
};
pub use client_authentication::{ClientAuthentication, PresentedCredentials, authenticate_client};
pub use error::TokenError;
pub use minting::SignedAccessToken;

use crate::{AuditLog, CodeStore, KeyManager, Revoker, Store};
use portcullis_core::grant::client_credentials::{self, ClientCredentialsRequest};
use portcullis_core::grant::token_exchange::TokenExchangeRequest;
use portcullis_core::grant::{AccessGrant, UserContext};
use portcullis_core::{AuditEvent, Client, Clock, Session, TokenPolicy, User};
use portcullis_jose::Algorithm;
use portcullis_types::{GrantType, OAuthErrorCode, TokenResponse};

/// How tokens of `POST /login` are audited and counted.
pub const DIRECT_LOGIN: &str = "direct_login";

/// Counts issued tokens (the auth server's metrics implement it).
pub trait TokenMetrics: Send + Sync {
    /// One token issued, obtained `via` a grant type or `POST /login`.
    fn token_issued(&self, via: &'static str);
}

/// How long refresh tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// A refresh token expires this long after its last use.
    pub sliding_secs: i64,
    /// A family ends this long after sign-in, however used.
    pub absolute_secs: i64,
}

/// A token request, already parsed from the protocol's form (its `Debug` shows the grant type
/// only: codes and refresh tokens are secrets).
#[derive(Clone)]
pub enum TokenRequest<'a> {
    /// RFC 6749 §4.4.
    ClientCredentials(ClientCredentialsRequest),
    /// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5).
    AuthorizationCode {
        /// `code`.
        code: &'a str,
        /// `redirect_uri`, required when the authorization request had one.
        redirect_uri: Option<&'a str>,
        /// `code_verifier`.
        code_verifier: Option<&'a str>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// `refresh_token`.
        refresh_token: &'a str,
        /// `scope`, at most the original one.
        scope: Option<&'a str>,
    },
    /// RFC 8628 §3.4.
    DeviceCode {
        /// `device_code`.
        device_code: &'a str,
    },
    /// RFC 8693 §2.1.
    TokenExchange {
        /// `subject_token`, an access token.
        subject_token: &'a str,
        /// `actor_token`, an access token, if sent.
        actor_token: Option<&'a str>,
        /// `scope`, `resource`, `audience`.
        request: TokenExchangeRequest,
    },
}

impl std::fmt::Debug for TokenRequest<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "TokenRequest({})", self.grant_type())
    }
}

impl TokenRequest<'_> {
    /// The grant type asked for.
    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::ClientCredentials(_) => GrantType::ClientCredentials,
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::TokenExchange { .. } => GrantType::TokenExchange,
            TokenRequest::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }
}

/// Everything issuing tokens needs, borrowed from the server's state for one request.
pub struct TokenIssuer<'a> {
    /// Clients, users and grants.
    pub store: &'a dyn Store,
    /// Where authorization codes live (the store, or a cluster's Redis).
    pub codes: &'a dyn CodeStore,
    /// Signing keys.
    pub keys: &'a KeyManager,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Revokes what a detected replay compromised.
    pub revoker: Revoker<'a>,
    /// Counts issued tokens.
    pub metrics: &'a dyn TokenMetrics,
    /// Issuer, audiences and access token lifetimes.
    pub policy: &'a TokenPolicy,
    /// The algorithm access tokens are signed with.
    pub access_token_algorithm: Algorithm,
    /// Refresh token lifetimes.
    pub refresh: RefreshPolicy,
    /// The DPoP key the request proved (its JWK thumbprint), if it sent a valid proof: access
    /// tokens are bound to it, and so is a public client's refresh token family (RFC 9449 §5).
    pub dpop_jkt: Option<String>,
    /// Who must have signed in with a second factor.
    pub mfa: &'a portcullis_core::MfaPolicy,
}

impl TokenIssuer<'_> {
    /// Answers an authenticated client's token request; refusals are audited.
    ///
    /// # Errors
    /// The refusal or failure to return to the client.
    pub async fn issue(
        &self,
        client: &Client,
        request: TokenRequest<'_>,
    ) -> Result<TokenResponse, TokenError> {
        let result = self.issue_unaudited(client, request).await;
        // A device polling while its user decides is no refusal worth a record (RFC 8628 §3.5).
        if let Err(error) = &result
            && !matches!(
                error.code(),
                OAuthErrorCode::AuthorizationPending | OAuthErrorCode::SlowDown
            )
        {
            self.audit.record(&AuditEvent::TokenRequestRefused {
                client_id: client.id.clone(),
                error: error.code().as_str().to_owned(),
            });
        }
        result
    }

    async fn issue_unaudited(
        &self,
        client: &Client,
        request: TokenRequest<'_>,
    ) -> Result<TokenResponse, TokenError> {
        let grant_type = request.grant_type();
        // Checked before a code or refresh token is touched, so a client that may not use the
        // grant cannot burn another client's code.
        if !client.allows_grant(grant_type) {
            return Err(TokenError::refused(
                OAuthErrorCode::UnauthorizedClient,
                format!("client is not allowed to use {grant_type}"),
            ));
        }
        match request {
            TokenRequest::ClientCredentials(request) => {
                let grant = client_credentials::grant(client, &request, self.policy)?;
                Ok(minting::response(self.access_token(&grant)?, None, None))
            }
            TokenRequest::AuthorizationCode {
                code,
                redirect_uri,
                code_verifier,
            } => {
                self.exchange_code(client, code, redirect_uri, code_verifier)
                    .await
            }
            TokenRequest::RefreshToken {
                refresh_token,
                scope,
            } => self.refresh(client, refresh_token, scope).await,
            TokenRequest::DeviceCode { device_code } => {
                self.redeem_device_code(client, device_code).await
            }
            TokenRequest::TokenExchange {
                subject_token,
                actor_token,
                request,
            } => {
                self.exchange_token(client, subject_token, actor_token, request)
                    .await
            }
        }
    }

    /// Tokens for a direct sign-in (`POST /login`, no redirect) of `user` in `session` to the
    /// first-party `client`: every scope of the client, its audiences and the issuer's (so the
    /// token also works at userinfo and the admin API), and a refresh token when the client gets
    /// one. Audited and counted as `direct_login`, not as the code flow whose grant shape it
    /// borrows.
    ///
    /// # Errors
    /// Signing or store failures.
    pub async fn issue_direct(
        &self,
        client: &Client,
        user: &User,
        session: &Session,
    ) -> Result<TokenResponse, TokenError> {
        let mut audiences = self.policy.allowed_audiences(client).to_vec();
        audiences.push(self.policy.issuer.clone());
        audiences.sort();
        audiences.dedup();
        let grant = AccessGrant {
            grant_type: GrantType::AuthorizationCode,
            subject: user.id.clone(),
            client_id: client.id.clone(),
            scope: crate::roles::scope_for_user(self.store, user, &client.scopes).await?,
            audiences,
            lifetime_secs: self.policy.access_token_lifetime(client),
            user: Some(UserContext {
                username: user.username.to_string(),
                roles: user.roles.clone(),
                sid: session.sid.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
            }),
        };
        let access = self.sign_access_token(self.access_token_claims(&grant)?, DIRECT_LOGIN)?;
        let refresh_token = self
            .refresh_family_if_wanted(client, &grant, &user.id, &access)
            .await?
            .map(|(token, _)| token);
        Ok(minting::response(access, refresh_token, None))
    }
}
