//! The authorization endpoint's use case (RFC 6749 §4.1.1): load what the request names, let the
//! domain decide ([`portcullis_core::authorize::decide`]), and carry the decision out
//! (remember consent, issue a single-use code). The HTTP route only renders the outcome.

use crate::roles::scope_for_user;
use crate::{AuditLog, CodeStore, Store, StoreError};
use portcullis_core::authorize::{
    AuthorizationDecision, AuthorizationParams, AuthorizationRequest, AuthorizationState,
    AuthorizeError, decide, validate_authorization,
};
use portcullis_core::email_verification::sign_in_needs_verification;
use portcullis_core::{
    AuditEvent, AuthorizationCodeRecord, Client, ClientKind, Clock, MfaPolicy, ScopeSet, Session,
    TokenPolicy, UnixSeconds, generate_secret,
};
use portcullis_jose::sha256;
use std::sync::Arc;

/// Authorization codes live at most this long (RFC 6749 §4.1.2 recommends at most 10 minutes;
/// Portcullis allows one).
pub const AUTHORIZATION_CODE_LIFETIME_SECS: i64 = 60;
/// Bytes of randomness in an authorization code.
const CODE_BYTES: usize = 32;

/// One arrival at the authorization endpoint.
#[derive(Debug, Clone, Copy)]
pub struct AuthorizationAttempt<'a> {
    /// The request's parameters.
    pub params: &'a AuthorizationParams,
    /// The consent form's answer, when this is its (CSRF-checked) submission.
    pub answer: Option<&'a str>,
    /// The browser's live session, if any.
    pub session: Option<&'a Session>,
}

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationOutcome {
    /// The client or redirect URI cannot be trusted: show `message`, never redirect.
    ErrorPage(String),
    /// Send an error to the client's redirect URI (RFC 6749 §4.1.2.1).
    RedirectError {
        /// The validated redirect URI.
        redirect_uri: String,
        /// `state` to echo.
        state: Option<String>,
        /// `error`.
        code: &'static str,
        /// `error_description`.
        description: String,
    },
    /// Sign in, then come back.
    SignIn {
        /// `login_hint` to prefill.
        login_hint: Option<String>,
    },
    /// Ask the user to allow the request.
    AskConsent(Box<ConsentPrompt>),
    /// Redirect back with a fresh code.
    Code {
        /// The validated redirect URI.
        redirect_uri: String,
        /// `state` to echo.
        state: Option<String>,
        /// The single-use code.
        code: String,
    },
}

/// What the consent page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPrompt {
    /// The client asking.
    pub client: Client,
    /// The validated request.
    pub request: AuthorizationRequest,
}

/// Why the endpoint could not decide.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizationError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness for a code.
    #[error("cannot generate an authorization code")]
    Randomness,
}

/// Everything the endpoint needs, borrowed from the server's state for one request.
pub struct Authorizer<'a> {
    /// Users and consents.
    pub store: &'a dyn Store,
    /// The client a request names: registered, or described by its metadata document.
    pub clients: &'a crate::client_directory::ClientDirectory<'a>,
    /// Where authorization codes live (the store, or a cluster's Redis).
    pub codes: &'a dyn CodeStore,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The audit log.
    pub audit: &'a AuditLog,
    /// Issuer and default audience.
    pub policy: &'a TokenPolicy,
    /// Who must use a second factor.
    pub mfa: &'a MfaPolicy,
    /// A session counts only for an account with a verified address (the registration policy
    /// `require_verified_email`, which may have been turned on after the session began).
    pub require_verified_email: bool,
    /// Only pushed authorization requests are taken (RFC 9126 §5).
    pub require_pushed: bool,
}

impl Authorizer<'_> {
    /// Answers one authorization request.
    ///
    /// # Errors
    /// Store failures, or no randomness for the code.
    pub async fn authorize(
        &self,
        attempt: AuthorizationAttempt<'_>,
    ) -> Result<AuthorizationOutcome, AuthorizationError> {
        let client = match &attempt.params.client_id {
            Some(id) => match self.clients.find_client(id).await {
                Ok(client) => client,
                Err(crate::client_directory::ClientLookupError::Store(error)) => {
                    return Err(error.into());
                }
                // Draft-ietf-oauth-client-id-metadata-document §5.1: the request is aborted;
                // its redirect URI cannot be trusted, so the user is told here.
                Err(refusal) => return Ok(AuthorizationOutcome::ErrorPage(refusal.to_string())),
            },
            None => None,
        };
        let mut request =
            match validate_authorization(client.as_deref(), attempt.params, self.policy) {
                Ok(request) => request,
                Err(AuthorizeError::Untrusted(message)) => {
                    return Ok(AuthorizationOutcome::ErrorPage(message));
                }
                Err(AuthorizeError::Redirect {
                    redirect_uri,
                    state,
                    code,
                    description,
                }) => {
                    return Ok(AuthorizationOutcome::RedirectError {
                        redirect_uri,
                        state,
                        code,
                        description,
                    });
                }
            };
        let Some(client) = client else {
            return Ok(AuthorizationOutcome::ErrorPage(
                "The application is not registered here.".to_owned(),
            ));
        };
        // RFC 9126 §5 and §6: a server, or a client, requiring pushed requests refuses any other.
        if (self.require_pushed || client.require_pushed_authorization_requests)
            && !attempt.params.pushed
        {
            return Ok(AuthorizationOutcome::RedirectError {
                redirect_uri: request.redirect_uri,
                state: request.state,
                code: "invalid_request",
                description: "this server takes only pushed authorization requests (RFC 9126)"
                    .to_owned(),
            });
        }
        let user = match attempt.session {
            Some(session) => self
                .store
                .find_user_by_id(&session.user_id)
                .await?
                .filter(|user| user.disabled_at.is_none())
                .filter(|user| !sign_in_needs_verification(self.require_verified_email, user)),
            None => None,
        };
        let signed_in = attempt.session.zip(user.as_ref());
        if let Some((_, user)) = signed_in {
            // Consent is asked for, and the code carries, only what the user's roles allow.
            request.scope = scope_for_user(self.store, user, &request.scope).await?;
        }
        // RFC 8252 §8.6: a public client that described itself (registered itself, or by a
        // metadata document) cannot be told apart from another app claiming its id (loopback
        // ports and private-use schemes are anyone's), so the user is asked every time.
        let impersonable = client.is_self_described() && client.kind == ClientKind::Public;
        let remembered_consent = match signed_in {
            Some((_, user)) if !client.first_party && !impersonable => self
                .store
                .find_consent(&user.id, &client.id)
                .await?
                .map(|scope| ScopeSet::parse(&scope).unwrap_or_default()),
            _ => None,
        };
        let now = self.clock.now();
        let roles = user.as_ref().map_or(&[][..], |user| &user.roles[..]);
        let required_acr = self
            .mfa
            .required_acr(roles, client.require_mfa, request.acr);
        // A request asking for more than the policy forces, from a user with no second factor:
        // signing in again cannot give it (a factor is set up on the account page, never on the
        // request's say-so), so it is refused (OpenID Connect Unmet Authentication Requirements
        // 1.0 §3).
        let forced_acr = self.mfa.required_acr(roles, client.require_mfa, None);
        if let Some((session, user)) = signed_in
            && session.amr.acr() < required_acr
            && forced_acr < required_acr
            && self.store.find_totp(&user.id).await?.is_none()
            && self.store.passkeys_of_user(&user.id).await?.is_empty()
        {
            return Ok(AuthorizationOutcome::RedirectError {
                redirect_uri: request.redirect_uri,
                state: request.state,
                code: "unmet_authentication_requirements",
                description: "the user has no second factor; they can set one up on their \
                              account page"
                    .to_owned(),
            });
        }
        let decision = decide(&AuthorizationState {
            request: &request,
            client: &client,
            signed_in,
            answer: attempt.answer,
            remembered_consent: remembered_consent.as_ref(),
            required_acr,
            now,
        });
        match (decision, signed_in) {
            (AuthorizationDecision::SignIn, _) => Ok(AuthorizationOutcome::SignIn {
                login_hint: request.login_hint,
            }),
            (AuthorizationDecision::AskConsent, _) => {
                Ok(AuthorizationOutcome::AskConsent(Box::new(ConsentPrompt {
                    client: Arc::unwrap_or_clone(client),
                    request,
                })))
            }
            (AuthorizationDecision::RedirectError { code, description }, _) => {
                Ok(AuthorizationOutcome::RedirectError {
                    redirect_uri: request.redirect_uri,
                    state: request.state,
                    code,
                    description: description.to_owned(),
                })
            }
            (AuthorizationDecision::IssueCode { remember_consent }, Some((session, user))) => {
                if remember_consent {
                    let scope = request.scope.to_string();
                    self.store
                        .save_consent(&user.id, &client.id, &scope, now)
                        .await?;
                    self.audit.record(&AuditEvent::ConsentGranted {
                        user_id: user.id.clone(),
                        client_id: client.id.clone(),
                        scope,
                    });
                }
                self.issue_code(&client, &user.id, session, request, now)
                    .await
            }
            // `decide` issues only to a signed-in user.
            (AuthorizationDecision::IssueCode { .. }, None) => Ok(AuthorizationOutcome::SignIn {
                login_hint: request.login_hint,
            }),
        }
    }

    async fn issue_code(
        &self,
        client: &Client,
        user_id: &str,
        session: &Session,
        request: AuthorizationRequest,
        now: UnixSeconds,
    ) -> Result<AuthorizationOutcome, AuthorizationError> {
        let code = generate_secret(CODE_BYTES).map_err(|_| AuthorizationError::Randomness)?;
        let record = AuthorizationCodeRecord {
            code_hash: sha256(code.as_bytes()).to_vec(),
            client_id: client.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge,
            nonce: request.nonce,
            scope: request.scope.to_string(),
            audiences: request.audiences,
            user_id: user_id.to_owned(),
            sid: session.sid.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            // RFC 6749 §4.1.2: a short lifetime.
            expires_at: now + AUTHORIZATION_CODE_LIFETIME_SECS,
        };
        self.codes.insert_code(&record).await?;
        self.audit.record(&AuditEvent::CodeIssued {
            client_id: client.id.clone(),
            user_id: user_id.to_owned(),
            sid: session.sid.clone(),
        });
        Ok(AuthorizationOutcome::Code {
            redirect_uri: request.redirect_uri,
            state: request.state,
            code,
        })
    }
}
