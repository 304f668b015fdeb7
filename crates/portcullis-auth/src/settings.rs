//! The auth server's settings, already validated by the binary's configuration loader.

use portcullis_core::passkey::UserVerification;
use portcullis_core::throttle::ThrottlePolicy;
use portcullis_core::{
    KeyLifecyclePolicy, MfaPolicy, RegistrationPolicy, SessionPolicy, TokenPolicy, TrustedProxies,
};
use portcullis_jose::Algorithm;
use std::time::Duration;

/// Everything the auth server needs to know besides its store and keys.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Issuer identifier and access token lifetimes.
    pub token_policy: TokenPolicy,
    /// Signing-key timing.
    pub key_policy: KeyLifecyclePolicy,
    /// The algorithm access tokens are signed with.
    pub access_token_algorithm: Algorithm,
    /// `max-age` of the JWKS response.
    pub jwks_max_age_secs: u64,
    /// How often the server re-reads keys from the store and checks automatic rotation.
    pub key_refresh_interval: Duration,
    /// Browser sign-in.
    pub sign_in: SignInSettings,
    /// Self-service registration and the verified-address policy.
    pub registration: RegistrationPolicy,
    /// Proxies whose `X-Forwarded-For` names the client (throttling, audit).
    pub trusted_proxies: TrustedProxies,
    /// How long past `exp` verifiers accept a token: revocation entries are kept this much
    /// longer than the tokens they match.
    pub verifier_leeway_secs: i64,
    /// Outgoing requests to client-registered URLs may reach loopback and private addresses.
    pub outbound_private_networks: bool,
    /// DPoP proofs at the token endpoint must carry a server-issued nonce (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// `/authorize` takes only pushed authorization requests (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// Dynamic client registration (RFC 7591): off, open or with an initial access token, and
    /// what registered clients may be.
    pub client_registration: portcullis_core::client_metadata::DynamicRegistrationPolicy,
    /// Personal access tokens and service accounts' API keys.
    pub personal_access_tokens: portcullis_service::personal_access_tokens::TokenPolicy,
    /// Sign-in through upstream identity providers.
    pub federation: crate::federation::FederationSettings,
    /// How long a client read from the store is used before it is read again (changes made
    /// through this server or announced by others are seen at once); zero reads every time.
    pub client_cache_max_age: Duration,
}

/// Settings of browser sign-in and the user-facing grants.
#[derive(Debug, Clone)]
pub struct SignInSettings {
    /// Product name shown on the pages.
    pub product_name: String,
    /// Session timeouts.
    pub session: SessionPolicy,
    /// Refresh tokens expire this long after their last use.
    pub refresh_token_sliding_secs: i64,
    /// A refresh token family ends this long after sign-in, however used.
    pub refresh_token_absolute_secs: i64,
    /// The first-party client that `POST /login` issues tokens to; `None` disables the endpoint.
    pub direct_login_client: Option<String>,
    /// Origins besides the issuer's whose pages may call `POST /login`.
    pub direct_login_origins: Vec<String>,
    /// How often expired state is purged.
    pub housekeeping_interval: Duration,
    /// Audit events are kept this long.
    pub audit_retention_secs: i64,
    /// Brute-force protection of sign-in.
    pub throttle: ThrottlePolicy,
    /// Who must use a second factor.
    pub mfa: MfaPolicy,
    /// Whether passkey ceremonies need the authenticator to verify the user.
    pub passkey_user_verification: UserVerification,
    /// How long a sign-in may wait for its password check, and how many may wait (then 503).
    pub admission: portcullis_service::credentials::SignInAdmission,
}

impl Default for SignInSettings {
    fn default() -> Self {
        SignInSettings {
            product_name: "Portcullis".to_owned(),
            session: SessionPolicy {
                idle_timeout_secs: 30 * 60,
                absolute_timeout_secs: 12 * 60 * 60,
            },
            refresh_token_sliding_secs: 14 * 24 * 60 * 60,
            refresh_token_absolute_secs: 30 * 24 * 60 * 60,
            direct_login_client: None,
            direct_login_origins: Vec::new(),
            housekeeping_interval: Duration::from_secs(300),
            audit_retention_secs: 90 * 24 * 60 * 60,
            throttle: ThrottlePolicy::default(),
            mfa: MfaPolicy::default(),
            passkey_user_verification: UserVerification::default(),
            admission: portcullis_service::credentials::SignInAdmission::default(),
        }
    }
}

impl AuthSettings {
    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.token_policy.issuer
    }

    /// An absolute URL on this server for `path` (which starts with `/`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer().trim_end_matches('/'))
    }

    /// Cookies get `Secure` whenever the issuer is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.issuer().starts_with("https://")
    }
}
