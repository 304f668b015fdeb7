//! The relying-party side (feature `client`): an application signing its users in with
//! Authorization Code + PKCE at any OpenID provider (or any RFC 8414 authorization server).
//!
//! 1. [`RelyingParty::discover`] reads the provider's metadata (OpenID Connect Discovery 1.0,
//!    RFC 8414) and checks that it names the issuer it was asked for;
//! 2. [`RelyingParty::start`] makes a fresh [`PendingAuthorization`] (`state`, `nonce`, PKCE
//!    verifier, kept by the application, e.g. in its session) and the URL to send the browser to;
//! 3. [`RelyingParty::callback`] reads the redirect back: the `state` must be the pending one, an
//!    error response is surfaced, and the RFC 9207 `iss` must be the issuer;
//! 4. [`RelyingParty::exchange`] redeems the code with the verifier and validates the id token
//!    (signature with the provider's published keys, `iss`, `aud`, `azp`, expiry, `nonce`);
//! 5. [`RelyingParty::refresh`] uses a refresh token;
//! 6. [`RelyingParty::end_session_url`] (RP-initiated logout), [`RelyingParty::revoke`]
//!    (RFC 7009) and [`RelyingParty::validate_logout_token`] (back-channel logout) end sessions.

mod callback;
mod id_token;
mod logout_token;
mod pending;
mod tokens;

pub use callback::Callback;
pub use id_token::IdTokenClaims;
pub use logout_token::{BACKCHANNEL_LOGOUT_EVENT, LogoutClaims};
pub use pending::PendingAuthorization;
pub use portcullis_jose::http_answer::{read_limited, transport_error};
pub use tokens::Tokens;

/// HTTP Basic credentials of a client: RFC 6749 §2.3.1 form-encodes the id and the secret
/// first, as the authorization server decodes them.
pub fn basic_credentials(id: &str, secret: &str) -> (String, String) {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    (encode(id), encode(secret))
}

use portcullis_jose::remote_key_set::{KeySource, RemoteKeySet};
use portcullis_types::ProviderMetadata;
use std::time::Duration;

/// Why a step of the sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The provider could not be reached, or answered what is not its protocol.
    #[error("the provider cannot be used: {0}")]
    Provider(String),
    /// The provider's metadata names another issuer (OpenID Connect Discovery 1.0 §4.3).
    #[error("the provider's metadata names issuer `{0}`, not the one asked for")]
    IssuerMismatch(String),
    /// The redirect back does not belong to the pending authorization (wrong or missing `state`
    /// or `iss`): a forged or replayed callback.
    #[error("the callback does not belong to this sign-in: {0}")]
    ForgedCallback(&'static str),
    /// The provider refused (RFC 6749 §4.1.2.1 or §5.2), with its code and description.
    #[error("the provider refused: {code}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        /// The OAuth error code, e.g. `access_denied` or `invalid_grant`.
        code: String,
        /// Its `error_description`, if any.
        description: Option<String>,
    },
    /// The id token is not valid for this sign-in.
    #[error("the id token is not valid: {0}")]
    InvalidIdToken(String),
    /// The logout token is not one of the provider's for this client (Back-Channel Logout 1.0
    /// §2.6).
    #[error("the logout token is not valid: {0}")]
    InvalidLogoutToken(String),
    /// No randomness for `state`, `nonce` or the verifier.
    #[error("no randomness")]
    Randomness,
}

/// This application as the provider knows it.
#[derive(Clone)]
pub struct ClientConfig {
    /// Its `client_id`.
    pub client_id: String,
    /// Its secret (`client_secret_basic`), or `None` for a public client.
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back.
    pub redirect_uri: String,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Signs this client's assertions for `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9)
/// with the application's own key, published where the provider reads it (its `jwks_uri`); the
/// relying party writes the claims.
pub trait AssertionSigner: Send + Sync {
    /// The compact JWS of `claims`.
    ///
    /// # Errors
    /// Why nothing could be signed (no key).
    fn sign(&self, claims: &serde_json::Value) -> Result<String, String>;
}

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion lives: one request.
const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The endpoints of a plain OAuth 2.0 provider, which publishes no metadata (GitHub style).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthEndpoints {
    /// Its issuer identifier, if it has one: a callback's RFC 9207 `iss` must then name it.
    pub issuer: Option<String>,
    /// The authorization endpoint.
    pub authorization_endpoint: String,
    /// The token endpoint.
    pub token_endpoint: String,
    /// Where the access token reads the user's profile.
    pub userinfo_endpoint: String,
}

/// A client of one provider.
pub struct RelyingParty {
    metadata: ProviderMetadata,
    client: ClientConfig,
    http: reqwest::Client,
    /// The provider's signing keys; `None` for a plain OAuth 2.0 provider (no id tokens).
    keys: Option<RemoteKeySet>,
    /// Whether the metadata's issuer is the provider's (not one of a plain OAuth 2.0 provider
    /// without an issuer identifier).
    issuer_known: bool,
    /// Signs `private_key_jwt` assertions, when the client authenticates so.
    assertion_signer: Option<std::sync::Arc<dyn AssertionSigner>>,
    leeway_secs: i64,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RelyingParty")
            .field("issuer", &self.metadata.issuer)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// How long a token's clock may be ahead or behind ours.
const LEEWAY_SECS: i64 = 60;

impl RelyingParty {
    /// The provider `issuer`, from its metadata at `/.well-known/openid-configuration` (else
    /// RFC 8414's `/.well-known/oauth-authorization-server`).
    ///
    /// # Errors
    /// [`ClientError::Provider`] or [`ClientError::IssuerMismatch`].
    pub async fn discover(issuer: &str, client: ClientConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|error| ClientError::Provider(error.to_string()))?;
        Self::discover_with(issuer, client, http).await
    }

    /// [`RelyingParty::discover`] with an HTTP client of the application's own (its trusted
    /// CAs, timeouts). It should not follow redirects: they would carry the client's secret and
    /// codes elsewhere.
    ///
    /// # Errors
    /// [`ClientError::Provider`] or [`ClientError::IssuerMismatch`].
    pub async fn discover_with(
        issuer: &str,
        client: ClientConfig,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let base = issuer.trim_end_matches('/');
        let mut metadata = None;
        let mut last_error = String::new();
        for path in ["openid-configuration", "oauth-authorization-server"] {
            match tokens::get_json::<ProviderMetadata>(&http, &format!("{base}/.well-known/{path}"))
                .await
            {
                Ok(found) => {
                    metadata = Some(found);
                    break;
                }
                Err(error) => last_error = error,
            }
        }
        let metadata = metadata.ok_or(ClientError::Provider(last_error))?;
        // OpenID Connect Discovery 1.0 §4.3, RFC 8414 §3.3: the metadata MUST name exactly the
        // issuer it was fetched for, or a provider could impersonate another.
        if metadata.issuer != issuer {
            return Err(ClientError::IssuerMismatch(metadata.issuer));
        }
        if metadata.authorization_endpoint.is_none() {
            return Err(ClientError::Provider(
                "the metadata names no authorization_endpoint".to_owned(),
            ));
        }
        let keys = RemoteKeySet::new(
            metadata.issuer.clone(),
            None,
            KeySource::JwksUrl(metadata.jwks_uri.clone()),
            Duration::from_secs(30),
            http.clone(),
            None,
        );
        Ok(RelyingParty {
            metadata,
            client,
            http,
            keys: Some(keys),
            issuer_known: true,
            assertion_signer: None,
            leeway_secs: LEEWAY_SECS,
        })
    }

    /// A plain OAuth 2.0 provider at `endpoints` (no discovery, no id tokens: the user is read
    /// from the userinfo endpoint). The HTTP client should not follow redirects.
    ///
    /// # Errors
    /// [`ClientError::Provider`] when the endpoints make no metadata.
    pub fn from_endpoints(
        endpoints: &OAuthEndpoints,
        client: ClientConfig,
        http: reqwest::Client,
    ) -> Result<Self, ClientError> {
        let metadata: ProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": endpoints.issuer.clone().unwrap_or_default(),
            "authorization_endpoint": endpoints.authorization_endpoint,
            "token_endpoint": endpoints.token_endpoint,
            "userinfo_endpoint": endpoints.userinfo_endpoint,
            "jwks_uri": "",
            "response_types_supported": ["code"],
        }))
        .map_err(|error| ClientError::Provider(error.to_string()))?;
        Ok(RelyingParty {
            metadata,
            client,
            http,
            keys: None,
            issuer_known: endpoints.issuer.is_some(),
            assertion_signer: None,
            leeway_secs: LEEWAY_SECS,
        })
    }

    /// The same client, authenticating with `private_key_jwt` assertions `signer` signs instead
    /// of a secret.
    #[must_use]
    pub fn with_assertion_signer(mut self, signer: std::sync::Arc<dyn AssertionSigner>) -> Self {
        self.assertion_signer = Some(signer);
        self
    }

    /// The provider's metadata.
    pub fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    /// Where the provider sends the browser back.
    pub fn redirect_uri(&self) -> &str {
        &self.client.redirect_uri
    }

    /// A new sign-in asking for `scope`: what to keep until the callback, and the URL to send
    /// the browser to (with `extra` parameters, such as `login_hint` or `prompt`).
    ///
    /// # Errors
    /// [`ClientError::Randomness`].
    pub fn start(
        &self,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> Result<(PendingAuthorization, String), ClientError> {
        let pending = PendingAuthorization::new()?;
        let endpoint = self
            .metadata
            .authorization_endpoint
            .as_deref()
            .unwrap_or_default();
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client.client_id)
            .append_pair("redirect_uri", &self.client.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &pending.code_challenge())
            .append_pair("code_challenge_method", "S256");
        for (name, value) in extra {
            query.append_pair(name, value);
        }
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{endpoint}{separator}{}", query.finish());
        Ok((pending, url))
    }

    /// The code of the redirect back to this application whose query is `query`, if it
    /// belongs to `pending`.
    ///
    /// # Errors
    /// [`ClientError::ForgedCallback`] or [`ClientError::Refused`].
    pub fn callback(
        &self,
        pending: &PendingAuthorization,
        query: &str,
    ) -> Result<String, ClientError> {
        let mut callback = Callback::parse(query);
        if !self.issuer_known {
            // No issuer identifier to compare an `iss` with: the redirect URI of this provider
            // alone tells it apart (RFC 9207 §3's alternative defence against mix-up).
            callback.iss = None;
        }
        callback.code_for(
            pending,
            &self.metadata.issuer,
            self.metadata.authorization_response_iss_parameter_supported,
        )
    }

    /// Redeems `code` of `pending` at the token endpoint; with an id token (an `openid`
    /// sign-in), its validated claims.
    ///
    /// # Errors
    /// [`ClientError::Refused`], [`ClientError::Provider`] or [`ClientError::InvalidIdToken`].
    pub async fn exchange(
        &self,
        pending: &PendingAuthorization,
        code: &str,
    ) -> Result<(Tokens, Option<IdTokenClaims>), ClientError> {
        let tokens = self
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.client.redirect_uri),
                ("code_verifier", &pending.code_verifier),
            ])
            .await?;
        let claims = match (&tokens.id_token, &self.keys) {
            (Some(id_token), Some(_)) => Some(
                self.validate_id_token(id_token, Some(&pending.nonce))
                    .await?,
            ),
            // A plain OAuth 2.0 provider's id token is not read: it has no keys to check it.
            _ => None,
        };
        Ok((tokens, claims))
    }

    /// The user's claims from the provider's userinfo endpoint (OpenID Connect Core §5.3, or a
    /// plain OAuth 2.0 provider's profile URL) with `access_token`; only JSON answers.
    ///
    /// # Errors
    /// [`ClientError::Provider`] when there is no endpoint, it fails or answers no JSON object;
    /// [`ClientError::Refused`] when it refuses the token.
    pub async fn userinfo(
        &self,
        access_token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ClientError> {
        let Some(endpoint) = &self.metadata.userinfo_endpoint else {
            return Err(ClientError::Provider("no userinfo endpoint".to_owned()));
        };
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| ClientError::Provider(transport_error(error)))?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ClientError::Refused {
                code: "invalid_token".to_owned(),
                description: Some(format!("the userinfo endpoint answered {status}")),
            });
        }
        if !status.is_success() {
            return Err(ClientError::Provider(format!(
                "the userinfo endpoint answered {status}"
            )));
        }
        let body = read_limited(response, 256 * 1024)
            .await
            .map_err(ClientError::Provider)?;
        serde_json::from_slice(&body).map_err(|_| {
            ClientError::Provider("the userinfo endpoint answered no JSON object".to_owned())
        })
    }

    /// New tokens for `refresh_token` of the sign-in of `subject` (kept by the caller when none
    /// comes back: RFC 6749 §6 lets the provider keep it), with the claims of a new id token.
    ///
    /// # Errors
    /// [`ClientError::Refused`], [`ClientError::Provider`] or [`ClientError::InvalidIdToken`].
    pub async fn refresh(
        &self,
        refresh_token: &str,
        subject: &str,
    ) -> Result<(Tokens, Option<IdTokenClaims>), ClientError> {
        let tokens = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .await?;
        let claims = match &tokens.id_token {
            // OpenID Connect Core §12.2: no nonce to check, but the same issuer (checked with
            // the token) and the same user.
            Some(id_token) => {
                let claims = self.validate_id_token(id_token, None).await?;
                if claims.subject != subject {
                    return Err(ClientError::InvalidIdToken(
                        "the refreshed id token names another user".to_owned(),
                    ));
                }
                Some(claims)
            }
            None => None,
        };
        Ok((tokens, claims))
    }

    /// Where to send the browser to end its session at the provider (OpenID Connect
    /// RP-Initiated Logout 1.0 §2), when it has an `end_session_endpoint`; the provider sends it
    /// back to `post_logout_redirect_uri` if given (and registered there).
    pub fn end_session_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
    ) -> Option<String> {
        let endpoint = self.metadata.end_session_endpoint.as_deref()?;
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("client_id", &self.client.client_id);
        if let Some(hint) = id_token_hint {
            query.append_pair("id_token_hint", hint);
        }
        if let Some(uri) = post_logout_redirect_uri {
            query.append_pair("post_logout_redirect_uri", uri);
        }
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Some(format!("{endpoint}{separator}{}", query.finish()))
    }

    /// Revokes `token` (RFC 7009 §2.1), when the provider has a `revocation_endpoint`; `Ok`
    /// also when it has none.
    ///
    /// # Errors
    /// [`ClientError::Refused`] or [`ClientError::Provider`].
    pub async fn revoke(&self, token: &str, hint: &str) -> Result<(), ClientError> {
        let Some(endpoint) = &self.metadata.revocation_endpoint else {
            return Ok(());
        };
        let form = [("token", token), ("token_type_hint", hint)];
        let response = self
            .authenticated(self.http.post(endpoint), &form)?
            .send()
            .await
            .map_err(|error| ClientError::Provider(transport_error(error)))?;
        // RFC 7009 §2.2: 200 whether or not the token was valid.
        if response.status().is_success() {
            return Ok(());
        }
        tokens::answer(Ok(response)).await.map(drop)
    }

    /// What the logout token `token` (OpenID Connect Back-Channel Logout 1.0 §2.6) ends. The
    /// caller remembers its `token_id` until `replayable_until` and refuses it a second time.
    ///
    /// # Errors
    /// [`ClientError::InvalidLogoutToken`].
    pub async fn validate_logout_token(&self, token: &str) -> Result<LogoutClaims, ClientError> {
        let rules = logout_token::LogoutTokenRules {
            issuer: &self.metadata.issuer,
            client_id: &self.client.client_id,
            leeway_secs: self.leeway_secs,
        };
        self.with_keys(|keys, now| rules.validate(token, keys, now))
            .await
            .map_err(ClientError::InvalidLogoutToken)
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<Tokens, ClientError> {
        let request = self.authenticated(self.http.post(&self.metadata.token_endpoint), form)?;
        tokens::answer(request.send().await).await
    }

    /// A fresh `private_key_jwt` assertion (RFC 7523 §3): this client as `iss` and `sub`, the
    /// provider's issuer identifier alone as `aud` (draft-ietf-oauth-rfc7523bis §4; the token
    /// endpoint for a provider without one), a unique `jti`, one minute to live.
    fn assertion(&self, signer: &dyn AssertionSigner) -> Result<String, ClientError> {
        let mut jti = [0u8; 16];
        portcullis_jose::random_bytes(&mut jti).map_err(|_| ClientError::Randomness)?;
        let audience = if self.issuer_known {
            &self.metadata.issuer
        } else {
            &self.metadata.token_endpoint
        };
        let now = crate::clock::unix_now();
        let claims = serde_json::json!({
            "iss": self.client.client_id,
            "sub": self.client.client_id,
            "aud": audience,
            "jti": portcullis_jose::base64url::encode(jti),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        signer.sign(&claims).map_err(ClientError::Provider)
    }

    /// `request` carrying `form` and this client's authentication.
    fn authenticated(
        &self,
        request: reqwest::RequestBuilder,
        form: &[(&str, &str)],
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let mut form = form.to_vec();
        if let Some(signer) = &self.assertion_signer {
            let assertion = self.assertion(signer.as_ref())?;
            form.push(("client_id", &self.client.client_id));
            form.push(("client_assertion_type", JWT_BEARER_ASSERTION));
            form.push(("client_assertion", &assertion));
            return Ok(request.form(&form));
        }
        let request = match &self.client.client_secret {
            // RFC 6749 §2.3.1: the form-encoded id and secret in HTTP Basic.
            Some(secret) => {
                let (id, secret) = basic_credentials(&self.client.client_id, secret);
                request.basic_auth(id, Some(secret))
            }
            None => {
                form.push(("client_id", &self.client.client_id));
                request
            }
        };
        Ok(request.form(&form))
    }

    async fn validate_id_token(
        &self,
        id_token: &str,
        nonce: Option<&str>,
    ) -> Result<IdTokenClaims, ClientError> {
        let rules = id_token::IdTokenRules {
            issuer: &self.metadata.issuer,
            client_id: &self.client.client_id,
            nonce,
            leeway_secs: self.leeway_secs,
        };
        self.with_keys(|keys, now| rules.validate(id_token, keys, now))
            .await
            .map_err(ClientError::InvalidIdToken)
    }

    /// What `validate` makes of a token with the provider's keys, refetched once for a key it
    /// does not know yet (a rotation); why it was refused.
    async fn with_keys<T>(
        &self,
        validate: impl Fn(&portcullis_jose::KeySet, i64) -> Result<T, id_token::IdTokenError>,
    ) -> Result<T, String> {
        let Some(keys) = &self.keys else {
            return Err("the provider publishes no keys".to_owned());
        };
        if !keys.is_loaded() {
            keys.refresh_for_unknown_kid().await;
        }
        let now = crate::clock::unix_now();
        match validate(&keys.current(), now) {
            Err(id_token::IdTokenError::UnknownKey) => {
                // One rate-limited refetch, then once more.
                keys.refresh_for_unknown_kid().await;
                validate(&keys.current(), now)
            }
            other => other,
        }
        .map_err(|error| error.to_string())
    }
}
