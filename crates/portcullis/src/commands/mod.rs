//! The subcommands of the `portcullis` binary.

pub mod admin;
pub mod login;
pub mod serve;
pub mod token;
pub mod up;

use crate::config::Config;
use anyhow::Context;
use portcullis_store::{PoolSettings, SqlStore};
use std::time::Duration;

/// Opens the store of `config`: PostgreSQL when `database_url` is set, else the embedded SQLite
/// file, creating the data directory on first use with mode 0700 (it holds the database and
/// possibly the key-encryption key).
///
/// # Errors
/// When the directory cannot be created or the database cannot be opened.
pub async fn open_store(config: &Config) -> anyhow::Result<SqlStore> {
    if let Some(url) = &config.database_url {
        let pool = PoolSettings {
            max_connections: config.database_max_connections,
            ..PoolSettings::default()
        };
        return SqlStore::connect_postgres(url.expose(), pool)
            .await
            .context("cannot open the database");
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    SqlStore::open_sqlite(&config.database_path())
        .await
        .context("cannot open the database")
}

/// The auth server settings described by `config`.
///
/// # Errors
/// When the configured algorithm is invalid (already validated on load).
pub fn auth_settings(config: &Config) -> anyhow::Result<portcullis_auth::AuthSettings> {
    Ok(portcullis_auth::AuthSettings {
        token_policy: portcullis_core::TokenPolicy {
            issuer: config.issuer(),
            default_audience: config.tokens.default_audience.clone(),
            default_access_token_lifetime_secs: config.tokens.access_token_lifetime_secs,
            max_access_token_lifetime_secs: config.tokens.max_access_token_lifetime_secs,
        },
        key_policy: key_policy(config),
        access_token_algorithm: config.access_token_algorithm()?,
        jwks_max_age_secs: config.keys.jwks_max_age_secs,
        key_refresh_interval: Duration::from_secs(config.keys.refresh_interval_secs),
        sign_in: portcullis_auth::settings::SignInSettings {
            product_name: config.auth.product_name.clone(),
            session: portcullis_core::SessionPolicy {
                idle_timeout_secs: config.sessions.idle_timeout_secs,
                absolute_timeout_secs: config.sessions.absolute_timeout_secs,
            },
            refresh_token_sliding_secs: config.tokens.refresh_token_sliding_secs,
            refresh_token_absolute_secs: config.tokens.refresh_token_absolute_secs,
            direct_login_client: config.auth.direct_login_client.clone(),
            direct_login_origins: config.auth.direct_login_origins.clone(),
            housekeeping_interval: Duration::from_secs(config.auth.housekeeping_interval_secs),
            audit_retention_secs: config.auth.audit_retention_days * 24 * 60 * 60,
            throttle: portcullis_core::throttle::ThrottlePolicy::default(),
            mfa: portcullis_core::MfaPolicy {
                everyone: config.auth.mfa_required,
                roles: config.auth.mfa_required_roles.clone(),
            },
            passkey_user_verification: config.auth.passkey_user_verification,
            admission: portcullis_service::credentials::SignInAdmission {
                concurrency: config.auth.sign_in_concurrency,
                max_wait: Duration::from_millis(config.auth.sign_in_max_wait_ms),
                max_waiting: config.auth.sign_in_max_waiting,
            },
        },
        registration: config.registration_policy()?,
        trusted_proxies: portcullis_core::TrustedProxies::parse(&config.auth.trusted_proxies)
            .map_err(anyhow::Error::msg)?,
        verifier_leeway_secs: config.tokens.leeway_secs,
        outbound_private_networks: config.auth.outbound_private_networks,
        dpop_nonce: config.auth.dpop_nonce,
        require_pushed_authorization_requests: config.auth.require_pushed_authorization_requests,
        client_registration: config.client_registration.policy(&config.issuer())?,
        personal_access_tokens: config.personal_access_tokens.policy()?,
        federation: config.federation.settings()?,
        client_cache_max_age: Duration::from_millis(config.auth.client_cache_max_age_ms),
    })
}

/// The auth server's TLS acceptor, when `config` gives it a certificate.
///
/// # Errors
/// An unreadable certificate or key.
pub fn auth_tls(config: &Config) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    match (&config.auth.tls_cert_file, &config.auth.tls_key_file) {
        (Some(cert_file), Some(key_file)) => portcullis_tls::acceptor(cert_file, key_file)
            .map(Some)
            .context("auth server TLS"),
        _ => Ok(None),
    }
}

/// The key lifecycle described by `config`: a retired key stays published for the longest token
/// lifetime plus the leeway, so every token it signed can be verified until it expires.
pub fn key_policy(config: &Config) -> portcullis_core::KeyLifecyclePolicy {
    portcullis_core::KeyLifecyclePolicy {
        prepublish_secs: config.keys.prepublish_secs,
        retention_secs: config.tokens.max_access_token_lifetime_secs + config.tokens.leeway_secs,
        rotation_interval_secs: (config.keys.rotation_interval_secs > 0)
            .then_some(config.keys.rotation_interval_secs),
    }
}

pub use portcullis_auth::pages::format_time;
