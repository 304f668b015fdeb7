//! Shared state handed to every handler.

use crate::AuthSettings;
use crate::metrics::Metrics;
use portcullis_core::{Clock, ClusterAnnouncer, NoAnnouncer};
use portcullis_core::{PasswordError, PasswordPolicy};
use portcullis_service::AuditLog;
use portcullis_service::CredentialVerifier;
use portcullis_service::KeyManager;
use portcullis_service::Mailer;
use portcullis_service::client_cache::ForgetThenAnnounce;
use portcullis_service::{CodeStore, MemoryThrottle, SessionStore, SignInThrottle, Store};
use std::sync::Arc;

/// The auth server's state as handlers see it: one `Arc` around [`ServerState`], so the clones
/// axum makes for every request (the route's service and its `State`) cost one reference count.
#[derive(Clone)]
pub struct AppState(Arc<ServerState>);

impl std::ops::Deref for AppState {
    type Target = ServerState;

    fn deref(&self) -> &ServerState {
        &self.0
    }
}

/// Everything the auth server's handlers share.
#[derive(Clone)]
pub struct ServerState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keys: Arc<KeyManager>,
    /// Settings.
    pub settings: Arc<AuthSettings>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Password checking.
    pub credentials: Arc<CredentialVerifier>,
    /// The key of the forms' CSRF tokens, derived from the key-encryption key.
    pub csrf_key: Arc<portcullis_jose::MacKey>,
    /// Where sign-in failures are counted: this server's memory, or a cluster's Redis.
    pub sign_in_throttle: Arc<dyn SignInThrottle>,
    /// Tells other servers and gateways about revocations, key changes and client changes
    /// (forgetting this server's copy of a changed client first).
    pub announcer: Arc<dyn ClusterAnnouncer>,
    /// Clients recently read from the store.
    pub client_cache: Arc<portcullis_service::client_cache::ClientCache>,
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// Where authorization codes live: the store, or a cluster's Redis.
    pub codes: Arc<dyn CodeStore>,
    /// Where browser sessions live: the store, or a cluster's Redis.
    pub sessions: Arc<dyn SessionStore>,
    /// The admin console's sign-ins and sessions.
    pub console: Arc<crate::console::Console>,
    /// Outgoing email, when `[email]` is configured: the outbox's sender.
    pub email: Option<EmailDelivery>,
    /// The password reset page, `{issuer}/reset`, where reset links point.
    pub reset_page: Arc<str>,
    /// The page verification links point to, `{issuer}/verify-email`.
    pub verify_page: Arc<str>,
    /// The registration page, `{issuer}/register`, where invitations point.
    pub register_page: Arc<str>,
    /// The sign-in page, `{issuer}/signin`, named in messages.
    pub sign_in_page: Arc<str>,
    /// The forgotten-password page, `{issuer}/forgot`, named in messages.
    pub forgot_page: Arc<str>,
    /// The account page, `{issuer}/account`, linked from notices.
    pub account_page: Arc<str>,
    /// DPoP proofs seen at the token endpoint, refused when sent again (RFC 9449 §11.1): in this
    /// server's memory, or a cluster's Redis.
    pub dpop_proofs: Arc<dyn portcullis_service::ProofReplay>,
    /// `private_key_jwt` assertions seen, refused when sent again: apart from the DPoP proofs,
    /// so a flood of proofs (anyone can make them) cannot crowd assertions out.
    pub client_assertions: Arc<dyn portcullis_service::ProofReplay>,
    /// Server-issued DPoP nonces, when proofs must carry one (RFC 9449 §8).
    pub dpop_nonces: Option<Arc<portcullis_core::dpop_nonce::DpopNonces>>,
    /// Requests to URLs clients registered, SSRF-guarded.
    pub outbound: crate::outbound::OutboundHttp,
    /// What each network may make the server fetch (metadata documents, request objects).
    pub fetch_budget: Arc<portcullis_service::fetch_budget::FetchBudget>,
    /// How Client ID Metadata Documents are fetched.
    pub client_documents: Arc<portcullis_service::client_directory::ClientDocuments>,
    /// The keys of `private_key_jwt` clients.
    pub client_keys: Arc<dyn portcullis_service::tokens::ClientKeyResolver>,
    /// Seals one-time-code secrets at rest (the key-encryption key).
    pub factor_sealer: Arc<portcullis_jose::KeyEncryptionKey>,
    /// Tags the cookie of a sign-in waiting for its second factor.
    pub pending_key: Arc<portcullis_jose::MacKey>,
    /// The WebAuthn relying party, when the issuer's host is a domain name (WebAuthn refuses
    /// IP addresses); `None` turns passkeys off.
    pub relying_party: Option<Arc<portcullis_service::RelyingParty>>,
    /// The upstream identity providers users may sign in through.
    pub upstreams: Arc<crate::federation::Upstreams>,
}

/// How the outbox is delivered.
#[derive(Clone)]
pub struct EmailDelivery {
    /// The SMTP client.
    pub mailer: Arc<dyn Mailer>,
    /// `/readyz` reports the outbox stuck when its oldest message waited longer than this.
    pub stuck_after_secs: i64,
    /// How often due messages are looked for.
    pub poll_interval: std::time::Duration,
}

/// Why the server state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] portcullis_service::KeyError),
    /// The password hashing parameters are invalid.
    #[error("password settings: {0}")]
    Passwords(#[from] PasswordError),
    /// A key could not be derived from the key-encryption key.
    #[error("key derivation: {0}")]
    Derivation(#[from] portcullis_jose::JoseError),
    /// The HTTP client for client-registered URLs could not be built.
    #[error("outbound HTTP client: {0}")]
    Outbound(#[from] crate::outbound::OutboundError),
    /// The HTTP client for upstream identity providers could not be built.
    #[error("upstream providers' HTTP client: {0}")]
    Upstreams(String),
}

impl AppState {
    /// Loads the keys (creating the first key of each algorithm, and any rotation that is due)
    /// and assembles the state.
    ///
    /// # Errors
    /// [`StartupError`] when keys cannot be loaded, decrypted or created, or the password
    /// parameters are invalid.
    pub async fn build(
        store: Arc<dyn Store>,
        kek: portcullis_jose::KeyEncryptionKey,
        settings: AuthSettings,
        password_policy: PasswordPolicy,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        let credentials =
            CredentialVerifier::with_admission(password_policy, settings.sign_in.admission)?;
        let csrf_key = Arc::new(kek.derive_mac_key("portcullis csrf tokens v1")?);
        let console_secret = portcullis_jose::base64url::encode(
            kek.derive_mac_key("portcullis console client v1")?
                .tag(b"client secret"),
        );
        let sign_in_throttle = Arc::new(MemoryThrottle::new(settings.sign_in.throttle));
        // One client (one connection pool) for every request to a client-registered URL.
        let outbound = crate::outbound::OutboundHttp::new(settings.outbound_private_networks)?;
        // Derived from the key-encryption key: every server of a cluster accepts the others'.
        let dpop_nonces = if settings.dpop_nonce {
            Some(Arc::new(portcullis_core::dpop_nonce::DpopNonces::new(
                kek.derive_mac_key("portcullis dpop nonces v1")?,
            )))
        } else {
            None
        };
        let pending_key = Arc::new(kek.derive_mac_key("portcullis pending sign-in v1")?);
        let relying_party = crate::relying_party::relying_party(&settings).map(Arc::new);
        let factor_sealer = Arc::new(kek.duplicate()?);
        let keys = KeyManager::load(store.clone(), kek, settings.key_policy).await?;
        keys.rotate_due(clock.now()).await?;
        let keys = Arc::new(keys);
        let upstreams = crate::federation::Upstreams::new(
            &settings.federation.providers,
            settings.issuer(),
            Arc::new(crate::federation::assertion::ServerKeySigner::new(
                keys.clone(),
                clock.clone(),
                settings.access_token_algorithm,
            )),
            settings.outbound_private_networks,
        )
        .map_err(|error| StartupError::Upstreams(error.to_string()))?;
        let client_cache = Arc::new(portcullis_service::client_cache::ClientCache::new(
            settings.client_cache_max_age,
        ));
        let state = AppState(Arc::new(ServerState {
            audit: Arc::new(AuditLog::start(store.clone(), clock.clone())),
            codes: store.clone(),
            sessions: store.clone(),
            store,
            keys,
            metrics: Arc::new(Metrics::default()),
            clock,
            credentials: Arc::new(credentials),
            sign_in_throttle,
            csrf_key,
            announcer: Arc::new(ForgetThenAnnounce {
                cache: client_cache.clone(),
                cluster: Arc::new(NoAnnouncer),
            }),
            client_cache,
            console: Arc::new(crate::console::Console::new(console_secret)),
            email: None,
            reset_page: settings.endpoint(crate::routes::paths::RESET).into(),
            verify_page: settings.endpoint(crate::routes::paths::VERIFY_EMAIL).into(),
            register_page: settings.endpoint(crate::routes::paths::REGISTER).into(),
            sign_in_page: settings.endpoint(crate::routes::paths::SIGN_IN).into(),
            forgot_page: settings.endpoint(crate::routes::paths::FORGOT).into(),
            account_page: settings.endpoint(crate::routes::paths::ACCOUNT).into(),
            dpop_proofs: Arc::new(portcullis_core::replay::ReplayWindow::new(
                portcullis_core::replay::PROOFS_REMEMBERED,
            )),
            client_assertions: Arc::new(portcullis_core::replay::ReplayWindow::new(
                portcullis_core::replay::PROOFS_REMEMBERED,
            )),
            dpop_nonces,
            client_keys: Arc::new(crate::client_keys::ClientKeyCache::new(outbound.clone())),
            fetch_budget: Arc::default(),
            client_documents: Arc::new(portcullis_service::client_directory::ClientDocuments::new(
                Box::new(outbound.clone()),
                settings.outbound_private_networks,
                settings.issuer(),
            )),
            outbound,
            factor_sealer,
            pending_key,
            relying_party,
            upstreams: Arc::new(upstreams),
            settings: Arc::new(settings),
        }));
        if let Err(error) = state.reload_upstreams().await {
            tracing::warn!(%error, "providers of the admin API not loaded yet");
        }
        Ok(state)
    }

    /// Re-reads the upstream providers added through the admin API.
    ///
    /// # Errors
    /// Store failures.
    pub async fn reload_upstreams(&self) -> Result<(), portcullis_service::StoreError> {
        let _one_at_a_time = self.upstreams.reload_guard().await;
        let stored = self.store.list_federation_providers().await?;
        self.upstreams
            .set_managed(portcullis_service::admin::usable_providers(
                stored,
                &self.factor_sealer,
            ));
        Ok(())
    }

    /// The same state, sending the email outbox through `email`.
    #[must_use]
    pub fn with_email(mut self, email: EmailDelivery) -> Self {
        self.parts().email = Some(email);
        self
    }

    /// The same state, keeping authorization codes in `codes` instead of the store.
    #[must_use]
    pub fn with_code_store(mut self, codes: Arc<dyn CodeStore>) -> Self {
        self.parts().codes = codes;
        self
    }

    /// The same state, keeping browser sessions in `sessions` instead of the store.
    #[must_use]
    pub fn with_session_store(mut self, sessions: Arc<dyn SessionStore>) -> Self {
        self.parts().sessions = sessions;
        self
    }

    /// Revokes through this server's store, session store and announcer.
    pub fn revoker(&self) -> portcullis_service::Revoker<'_> {
        portcullis_service::Revoker {
            store: self.store.as_ref(),
            sessions: self.sessions.as_ref(),
            announcer: self.announcer.as_ref(),
            leeway_secs: self.settings.verifier_leeway_secs,
            max_access_token_lifetime_secs: self
                .settings
                .token_policy
                .max_access_token_lifetime_secs,
        }
    }

    /// Issues tokens through this server's store, keys, audit log and metrics.
    pub fn token_issuer(&self) -> portcullis_service::TokenIssuer<'_> {
        let sign_in = &self.settings.sign_in;
        portcullis_service::TokenIssuer {
            store: self.store.as_ref(),
            codes: self.codes.as_ref(),
            keys: &self.keys,
            clock: self.clock.as_ref(),
            audit: &self.audit,
            revoker: self.revoker(),
            metrics: self.metrics.as_ref(),
            policy: &self.settings.token_policy,
            access_token_algorithm: self.settings.access_token_algorithm,
            dpop_jkt: None,
            mfa: &self.settings.sign_in.mfa,
            refresh: portcullis_service::tokens::RefreshPolicy {
                sliding_secs: sign_in.refresh_token_sliding_secs,
                absolute_secs: sign_in.refresh_token_absolute_secs,
            },
        }
    }

    /// The second factors of users, through this server's store, sealer and throttle.
    pub fn second_factors(&self) -> portcullis_service::SecondFactors<'_> {
        portcullis_service::SecondFactors {
            store: self.store.as_ref(),
            sealer: &self.factor_sealer,
            clock: self.clock.as_ref(),
            audit: &self.audit,
            throttle: self.sign_in_throttle.as_ref(),
            issuer_label: &self.settings.sign_in.product_name,
        }
    }

    /// Passkeys through this server's relying party, store and replay memory; `None` when
    /// passkeys are off.
    pub fn passkeys(&self) -> Option<portcullis_service::Passkeys<'_>> {
        Some(portcullis_service::Passkeys {
            store: self.store.as_ref(),
            relying_party: self.relying_party.as_deref()?,
            sealer: &self.factor_sealer,
            ceremonies: self.client_assertions.as_ref(),
            clock: self.clock.as_ref(),
            audit: &self.audit,
        })
    }

    /// Pushed authorization requests (RFC 9126).
    pub fn pushed_requests(&self) -> portcullis_service::PushedRequests<'_> {
        portcullis_service::PushedRequests {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            policy: &self.settings.token_policy,
        }
    }

    /// The client a request from `requester` names: registered, or described by its metadata
    /// document; a copy read from the store within `client_cache_max_age` will do.
    pub fn clients(
        &self,
        requester: std::net::IpAddr,
    ) -> portcullis_service::client_directory::ClientDirectory<'_> {
        portcullis_service::client_directory::ClientDirectory {
            cache: Some(&self.client_cache),
            ..self.clients_from_store(requester)
        }
    }

    /// The client a request from `requester` names, as the store has it now: for grants that
    /// leave durable state behind (a code or device code redeemed, a refresh token issued), which
    /// a client deleted a moment ago through another server must not get.
    pub fn clients_from_store(
        &self,
        requester: std::net::IpAddr,
    ) -> portcullis_service::client_directory::ClientDirectory<'_> {
        portcullis_service::client_directory::ClientDirectory {
            store: self.store.as_ref(),
            cache: None,
            documents: &self.client_documents,
            policy: &self.settings.client_registration,
            max_lifetime_secs: self.settings.token_policy.max_access_token_lifetime_secs,
            clock: self.clock.as_ref(),
            audit: &self.audit,
            budget: &self.fetch_budget,
            throttle: self.sign_in_throttle.as_ref(),
            requester,
        }
    }

    /// Dynamic client registration (RFC 7591, RFC 7592).
    pub fn client_self_registration(
        &self,
    ) -> portcullis_service::client_registration::ClientSelfRegistration<'_> {
        portcullis_service::client_registration::ClientSelfRegistration {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            audit: &self.audit,
            policy: &self.settings.client_registration,
            max_lifetime_secs: self.settings.token_policy.max_access_token_lifetime_secs,
            throttle: self.sign_in_throttle.as_ref(),
            revoker: self.revoker(),
        }
    }

    /// Device authorization requests (RFC 8628).
    pub fn device_authorizations(
        &self,
    ) -> portcullis_service::device_authorization::DeviceAuthorizations<'_> {
        portcullis_service::device_authorization::DeviceAuthorizations {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            policy: &self.settings.token_policy,
            audit: &self.audit,
            throttle: self.sign_in_throttle.as_ref(),
        }
    }

    /// What the notices of second-factor changes say, and whether email can carry them.
    pub fn factor_notice(&self) -> portcullis_service::FactorNotice<'_> {
        portcullis_service::FactorNotice {
            product_name: &self.settings.sign_in.product_name,
            account_page: &self.account_page,
            email_enabled: self.email.is_some(),
        }
    }

    /// Checks and revokes tokens this server issued.
    pub fn inspector(&self) -> portcullis_service::TokenInspector<'_> {
        portcullis_service::TokenInspector {
            store: self.store.as_ref(),
            keys: &self.keys,
            clock: self.clock.as_ref(),
            issuer: self.settings.issuer(),
            revoker: self.revoker(),
            audit: &self.audit,
            personal_access_tokens: &self.settings.personal_access_tokens,
        }
    }

    /// Personal access tokens through this server's store, audit log and revocation list.
    pub fn personal_access_tokens(
        &self,
    ) -> portcullis_service::personal_access_tokens::PersonalAccessTokens<'_> {
        portcullis_service::personal_access_tokens::PersonalAccessTokens {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            audit: &self.audit,
            revoker: self.revoker(),
            policy: &self.settings.personal_access_tokens,
        }
    }

    /// The same state, counting sign-in failures in `throttle` (a cluster's Redis).
    #[must_use]
    pub fn with_sign_in_throttle(mut self, throttle: Arc<dyn SignInThrottle>) -> Self {
        self.parts().sign_in_throttle = throttle;
        self
    }

    /// The same state, remembering DPoP proofs in `dpop_proofs` and client assertions in
    /// `client_assertions` (a cluster's Redis).
    #[must_use]
    pub fn with_proof_replay(
        mut self,
        dpop_proofs: Arc<dyn portcullis_service::ProofReplay>,
        client_assertions: Arc<dyn portcullis_service::ProofReplay>,
    ) -> Self {
        let parts = self.parts();
        parts.dpop_proofs = dpop_proofs;
        parts.client_assertions = client_assertions;
        self
    }

    /// The same state, announcing changes through `announcer` (a cluster's Redis).
    #[must_use]
    pub fn with_announcer(mut self, announcer: Arc<dyn ClusterAnnouncer>) -> Self {
        let parts = self.parts();
        parts.announcer = Arc::new(ForgetThenAnnounce {
            cache: parts.client_cache.clone(),
            cluster: announcer,
        });
        self
    }

    /// The parts to change while the server is being assembled (copied first if a clone of this
    /// state is already out, so a running server's state never changes under it).
    fn parts(&mut self) -> &mut ServerState {
        Arc::make_mut(&mut self.0)
    }
}
