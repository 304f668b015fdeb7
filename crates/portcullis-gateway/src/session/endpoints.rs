//! The gateway's own endpoints for browser sessions, under `/_portcullis/`.

use super::BROWSER_COOKIE;
use super::sealed::SessionTokens;
use super::{
    Endpoint, SESSION_COOKIE, Sessions, access_expires_at, digest, local_path, redirect, secret,
    unavailable,
};
use crate::error::GatewayError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::replay::FirstUse;
use portcullis_sdk::client::{ClientError, IdTokenClaims, PendingAuthorization, Tokens};
use portcullis_service::ports::{CreateError, PendingLogin, SessionRecord};

/// Largest back-channel logout request read (a logout token is about a kilobyte).
const MAX_LOGOUT_BODY_BYTES: usize = 16 * 1024;

/// An error answer of the endpoints: the protocol's error code and what happened, never cached.
fn endpoint_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = crate::error::plain(status, error, description);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The value of `name` in a form-encoded `text`, if it is there exactly once.
fn single_parameter(text: &[u8], name: &str) -> Option<String> {
    let mut values = form_urlencoded::parse(text)
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned());
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

impl Sessions {
    /// Answers `request` at `endpoint` at `now`.
    pub async fn answer(&self, endpoint: Endpoint, request: Request, now: i64) -> Response {
        let (parts, body) = request.into_parts();
        let method = parts.method.clone();
        let allowed = match endpoint {
            Endpoint::Login | Endpoint::Callback => method == Method::GET,
            Endpoint::Logout => method == Method::GET || method == Method::POST,
            Endpoint::BackchannelLogout => method == Method::POST,
        };
        if !allowed {
            return endpoint_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "method not allowed here",
            );
        }
        let answered = match endpoint {
            Endpoint::Login => {
                let return_to = parts
                    .uri
                    .query()
                    .and_then(|query| single_parameter(query.as_bytes(), "rd"))
                    .unwrap_or_else(|| "/".to_owned());
                self.login_redirect(&parts.headers, local_path(&return_to), now)
                    .await
            }
            Endpoint::Callback => {
                let query = parts.uri.query().unwrap_or_default();
                self.callback(query, &parts.headers, now).await
            }
            Endpoint::Logout => self.logout(&method, &parts.headers).await,
            Endpoint::BackchannelLogout => Ok(self.backchannel_logout(body, now).await),
        };
        answered.unwrap_or_else(IntoResponse::into_response)
    }

    /// The provider's redirect back: the code of a sign-in this browser started, redeemed for
    /// tokens; a new session (never the one the browser may have had: no fixation).
    async fn callback(
        &self,
        query: &str,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Response, GatewayError> {
        let Some(pending) = self.own_pending(query, headers, now).await? else {
            tracing::warn!("a sign-in callback of no sign-in this browser started was refused");
            self.metrics.session_event("callback_refused");
            return Ok(endpoint_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "this sign-in is unknown, expired, used or another browser's: start again",
            ));
        };
        let return_to = pending.return_to.clone();
        match self.redeem(pending, query).await {
            Ok((tokens, claims)) => {
                self.open_session(headers, tokens, claims, &return_to, now)
                    .await
            }
            Err(refusal) => Ok(refusal),
        }
    }

    /// The pending sign-in the callback's `state` names, taken (used once), if this browser
    /// started it: RFC 6749 §10.12, the callback of another browser's sign-in (login CSRF) is
    /// refused.
    async fn own_pending(
        &self,
        query: &str,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<Option<PendingLogin>, GatewayError> {
        let Some(state) = single_parameter(query.as_bytes(), "state") else {
            return Ok(None);
        };
        let pending = self
            .store
            .take_pending(&digest(&state), now)
            .await
            .map_err(unavailable)?;
        let browser = self.cookie(headers, BROWSER_COOKIE);
        Ok(pending.filter(|pending| {
            browser.is_some_and(|browser| {
                portcullis_jose::constant_time_eq(
                    digest(&browser).as_bytes(),
                    pending.browser.as_bytes(),
                )
            })
        }))
    }

    /// The tokens and id-token claims of the callback `query` of `pending`, or the answer to
    /// give instead: the provider's own refusal (`access_denied`, ...) shown, not swallowed.
    async fn redeem(
        &self,
        pending: PendingLogin,
        query: &str,
    ) -> Result<(Tokens, IdTokenClaims), Response> {
        let authorization = PendingAuthorization {
            state: pending.state,
            nonce: pending.nonce,
            code_verifier: pending.code_verifier,
        };
        let party = self.party().await.map_err(IntoResponse::into_response)?;
        let outcome = match party.callback(&authorization, query) {
            Ok(code) => party.exchange(&authorization, &code).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok((tokens, Some(claims))) => Ok((tokens, claims)),
            Ok((_, None)) => Err(endpoint_error(
                StatusCode::BAD_GATEWAY,
                "server_error",
                "the provider gave no id token",
            )),
            Err(ClientError::Refused { code, description }) => {
                self.metrics.session_event("callback_refused");
                Err(endpoint_error(
                    StatusCode::FORBIDDEN,
                    &code,
                    description
                        .as_deref()
                        .unwrap_or("the provider refused the sign-in"),
                ))
            }
            Err(error @ (ClientError::ForgedCallback(_) | ClientError::InvalidIdToken(_))) => {
                tracing::warn!(%error, "a sign-in callback was refused");
                self.metrics.session_event("callback_refused");
                Err(endpoint_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    &error.to_string(),
                ))
            }
            Err(error) => {
                tracing::warn!(%error, "the sign-in provider failed");
                Err(GatewayError::SessionsUnavailable.into_response())
            }
        }
    }

    /// A new session of `claims`' user holding `tokens` (replacing the browser's old one), and
    /// the browser sent back to `return_to` with its cookie.
    async fn open_session(
        &self,
        headers: &HeaderMap,
        tokens: Tokens,
        claims: IdTokenClaims,
        return_to: &str,
        now: i64,
    ) -> Result<Response, GatewayError> {
        if let Some(old) = self.cookie(headers, SESSION_COOKIE) {
            self.store
                .remove(&digest(&old))
                .await
                .map_err(unavailable)?;
        }
        let cookie = secret()?;
        let kept = SessionTokens {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            id_token: tokens.id_token,
        };
        let session = SessionRecord {
            provider_session: claims.session_id().map(str::to_owned),
            subject: claims.subject.clone(),
            access_expires_at: access_expires_at(now, tokens.expires_in),
            sealed_tokens: kept.seal(&cookie)?,
            created_at: now,
            last_seen: now,
        };
        match self.store.create(digest(&cookie), session).await {
            Ok(()) => {}
            Err(CreateError::Full) => {
                tracing::warn!("max_sessions reached: a sign-in was refused");
                return Err(GatewayError::SessionsUnavailable);
            }
            Err(CreateError::Store(error)) => return Err(unavailable(error)),
        }
        // Debug-formatted: the provider's value never breaks a log line.
        tracing::info!(subject = ?claims.subject, "browser signed in through the gateway");
        self.metrics.session_event("signed_in");
        let mut response = redirect(&format!("{}{return_to}", self.public_origin));
        response.headers_mut().append(
            header::SET_COOKIE,
            self.set_cookie(SESSION_COOKIE, cookie, self.absolute_timeout_secs),
        );
        Ok(response)
    }

    /// Ends the browser's session here, revokes its refresh token and sends the browser to the
    /// provider's logout (OpenID Connect RP-Initiated Logout 1.0 §2).
    async fn logout(&self, method: &Method, headers: &HeaderMap) -> Result<Response, GatewayError> {
        // Another site's page cannot sign a user out (logout CSRF).
        if !self.origins().allow_logout(method, headers) {
            return Err(GatewayError::CrossSite);
        }
        let ended = match self.cookie(headers, SESSION_COOKIE) {
            Some(cookie) => self
                .store
                .remove(&digest(&cookie))
                .await
                .map_err(unavailable)?
                .and_then(|session| SessionTokens::open(&cookie, &session).ok()),
            None => None,
        };
        if ended.is_some() {
            tracing::info!("browser signed out through the gateway");
            self.metrics.session_event("logout");
        }
        let after = self.post_logout_redirect_uri.as_deref();
        let location = match self.party().await {
            Ok(party) => {
                if let Some(refresh_token) = ended.as_ref().and_then(|s| s.refresh_token.as_ref())
                    && let Err(error) = party.revoke(refresh_token, "refresh_token").await
                {
                    tracing::warn!(%error, "the session's refresh token could not be revoked");
                }
                let hint = ended
                    .as_ref()
                    .and_then(|session| session.id_token.as_deref());
                party.end_session_url(hint, after)
            }
            Err(_) => None,
        };
        let home = format!("{}/", self.public_origin);
        let mut response = redirect(location.as_deref().or(after).unwrap_or(&home));
        response
            .headers_mut()
            .append(header::SET_COOKIE, self.forget_session_cookie());
        Ok(response)
    }

    /// OpenID Connect Back-Channel Logout 1.0 §2.5: the provider posts a logout token; every
    /// session it names ends. §2.8: 200 when done, 400 when the token is refused.
    async fn backchannel_logout(&self, body: Body, now: i64) -> Response {
        let refused = |description: &str| {
            endpoint_error(StatusCode::BAD_REQUEST, "invalid_request", description)
        };
        let body = match axum::body::to_bytes(body, MAX_LOGOUT_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => return refused("the request body is unreadable or too large"),
        };
        let Some(token) = single_parameter(&body, "logout_token") else {
            return refused("one logout_token is required");
        };
        let party = match self.party().await {
            Ok(party) => party,
            Err(error) => return error.into_response(),
        };
        let claims = match party.validate_logout_token(&token).await {
            Ok(claims) => claims,
            Err(error) => {
                tracing::warn!(%error, "a logout token was refused");
                return refused(&error.to_string());
            }
        };
        // Ending sessions is idempotent: end first, so a provider retrying after a store
        // failure (503) is not refused as a replay.
        let ended = match self
            .store
            .end_matching(claims.subject.as_deref(), claims.session_id.as_deref())
            .await
        {
            Ok(ended) => ended,
            Err(error) => return unavailable(error).into_response(),
        };
        // §2.6 step 7: a logout token is used once.
        let key = format!("logout:{}:{}", self.issuer, claims.token_id);
        match self
            .replay
            .first_use(&key, claims.replayable_until, now)
            .await
        {
            FirstUse::Yes => {}
            FirstUse::Replayed => return refused("this logout token was used already"),
            FirstUse::Full => return GatewayError::SessionsUnavailable.into_response(),
        }
        tracing::info!(ended, "back-channel logout");
        self.metrics.session_event("backchannel_logout");
        let mut response = Response::new(Body::empty());
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
