//! Configuration: one versioned TOML document, overridden by `PORTCULLIS_*` environment variables,
//! overridden by command-line flags, validated once into a [`Config`] that is passed down.
//! Every option is documented in `docs/configuration.md`.

pub mod client_registration;
mod env;
pub mod federation;
pub mod personal_access_tokens;
mod secret;

pub use env::apply_env_overrides;
pub use secret::Secret;

use anyhow::{Context, bail};
use portcullis_core::PasswordPolicy;
use portcullis_jose::Algorithm;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The configuration format version this binary reads.
pub const CONFIG_VERSION: u32 = 1;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Format version; must be 1.
    pub version: u32,
    /// Directory of the embedded database and generated key-encryption key.
    pub data_dir: PathBuf,
    /// PostgreSQL URL (`postgres://...`) shared by several auth servers; when unset, the
    /// embedded SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    /// Connections each server holds to PostgreSQL at most.
    pub database_max_connections: u32,
    /// Redis URL (`redis://...`): pushed revocations and key changes, and cluster-wide rate limits.
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key and channel of this cluster.
    pub redis_prefix: String,
    /// `redis_url` is a comma-separated list of Redis Cluster seed nodes.
    pub redis_cluster: bool,
    /// Keep authorization codes in Redis instead of the database.
    pub redis_codes: bool,
    /// Keep browser sessions in Redis instead of the database.
    pub redis_sessions: bool,
    /// The auth server.
    pub auth: AuthConfig,
    /// Token lifetimes.
    pub tokens: TokensConfig,
    /// Browser sessions.
    pub sessions: SessionsConfig,
    /// Signing keys.
    pub keys: KeysConfig,
    /// Password hashing.
    pub passwords: PasswordsConfig,
    /// Outgoing email.
    pub email: EmailConfig,
    /// Self-service registration and email verification.
    pub registration: RegistrationConfig,
    /// Dynamic client registration (RFC 7591).
    pub client_registration: client_registration::ClientRegistrationConfig,
    /// Personal access tokens and service accounts' API keys.
    pub personal_access_tokens: personal_access_tokens::PersonalAccessTokensConfig,
    /// Sign-in through upstream identity providers.
    pub federation: federation::FederationConfig,
    /// Logging.
    pub log: LogConfig,
    /// The API gateway.
    pub gateway: portcullis_gateway::GatewayConfig,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Listen address of the admin API, `/healthz`, `/readyz` and `/metrics`.
    pub admin_listen: SocketAddr,
    /// Issuer identifier; defaults to `http://<listen>`.
    pub issuer: Option<String>,
    /// Product name on the sign-in pages.
    pub product_name: String,
    /// The first-party client `POST /login` issues tokens to; unset disables `POST /login`.
    pub direct_login_client: Option<String>,
    /// How often expired sessions, codes, refresh tokens and revocations are purged.
    pub housekeeping_interval_secs: u64,
    /// Audit events older than this many days are purged.
    pub audit_retention_days: i64,
    /// PEM certificate chain; with `tls_key_file`, the auth server speaks TLS itself (HTTP/2 and
    /// HTTP/1.1 by ALPN) and the issuer defaults to `https://<listen>`.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Peers (addresses or CIDR ranges: a load balancer, the gateway) whose `X-Forwarded-For`
    /// names the client, for throttling and audit; the same reading as the gateway's.
    pub trusted_proxies: Vec<String>,
    /// Origins besides the issuer's (`scheme://host[:port]`) whose pages may call `POST /login`.
    pub direct_login_origins: Vec<String>,
    /// Lets the auth server's requests to URLs that clients register (`jwks_uri`,
    /// `backchannel_logout_uri`) reach loopback and private addresses: for a stack on one machine.
    pub outbound_private_networks: bool,
    /// DPoP proofs at the token endpoint must carry a nonce the server handed out (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// Every user must sign in with a second factor.
    pub mfa_required: bool,
    /// Users with any of these roles must sign in with a second factor.
    pub mfa_required_roles: Vec<String>,
    /// `/authorize` takes only pushed authorization requests (RFC 9126).
    pub require_pushed_authorization_requests: bool,
    /// `required` or `preferred`: whether passkey registrations and second-factor uses need the
    /// authenticator to verify the user (a sign-in with a passkey alone always does).
    pub passkey_user_verification: portcullis_core::passkey::UserVerification,
    /// Password checks (Argon2id) at once; zero means one per CPU.
    pub sign_in_concurrency: usize,
    /// How long a sign-in may wait for its turn at the password check before it gets 503.
    pub sign_in_max_wait_ms: u64,
    /// Sign-ins waiting for their turn at once; more get 503 at once.
    pub sign_in_max_waiting: usize,
    /// How long a client read from the store is used before it is read again.
    pub client_cache_max_age_ms: u64,
}

/// `[tokens]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Default access token lifetime.
    pub access_token_lifetime_secs: i64,
    /// Ceiling for any client's access token lifetime.
    pub max_access_token_lifetime_secs: i64,
    /// Clock skew tolerated by verifiers; retired keys stay published this much longer.
    pub leeway_secs: i64,
    /// A refresh token expires this long after it was issued (each rotation starts anew).
    pub refresh_token_sliding_secs: i64,
    /// A refresh token family ends this long after sign-in, however often rotated.
    pub refresh_token_absolute_secs: i64,
    /// The audience of tokens for clients registered without one, when the request names none
    /// (Okta's `api://default`), so a plain OAuth client gets a token a gateway can accept.
    pub default_audience: String,
}

/// `[sessions]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// A session unused this long ends.
    pub idle_timeout_secs: i64,
    /// A session ends this long after sign-in.
    pub absolute_timeout_secs: i64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        let defaults = portcullis_auth::settings::SignInSettings::default().session;
        SessionsConfig {
            idle_timeout_secs: defaults.idle_timeout_secs,
            absolute_timeout_secs: defaults.absolute_timeout_secs,
        }
    }
}

/// `[keys]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Access token signing algorithm: ES256, EdDSA or RS256.
    pub access_token_algorithm: String,
    /// Automatic rotation interval; 0 disables automatic rotation.
    pub rotation_interval_secs: i64,
    /// How long a new key is published before it signs.
    pub prepublish_secs: i64,
    /// `max-age` of the JWKS response.
    pub jwks_max_age_secs: u64,
    /// How often a server re-reads keys and checks rotation.
    pub refresh_interval_secs: u64,
    /// Base64url 256-bit key-encryption key; when unset, one is generated in the data dir.
    pub key_encryption_key: Option<Secret>,
}

/// `[passwords]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    /// The fewest characters a chosen password may have (8 to 64).
    pub min_length: usize,
    /// Argon2id memory in KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id iterations.
    pub argon2_iterations: u32,
    /// Argon2id parallelism.
    pub argon2_parallelism: u32,
}

/// `[email]`: outgoing email through an SMTP server; off without `smtp_host`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// The SMTP server; unset: no email is sent and the features that need it are off.
    pub smtp_host: Option<String>,
    /// Its port; by default 587 (starttls), 465 (tls) or 25 (none).
    pub smtp_port: Option<u16>,
    /// `starttls`, `tls`, or `none` (a relay on loopback only).
    pub security: String,
    /// SMTP user name, if the server wants one.
    pub username: Option<String>,
    /// SMTP password.
    pub password: Option<Secret>,
    /// The sender: `Name <address>` or an address.
    pub from: Option<String>,
    /// A private CA certificate (PEM) to trust for the SMTP server besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `/readyz` reports the outbox stuck when its oldest message waited longer than this.
    pub stuck_after_secs: i64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_host: None,
            smtp_port: None,
            security: "starttls".to_owned(),
            username: None,
            password: None,
            from: None,
            ca_file: None,
            stuck_after_secs: 900,
        }
    }
}

/// `[registration]`: self-service accounts at `/register`; off (`closed`) by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// `closed`, `open`, or `invite` (single-use invitations from an administrator).
    pub mode: String,
    /// Only addresses of these domains may register (or become an account's by a change);
    /// empty: any.
    pub allowed_email_domains: Vec<String>,
    /// Sign-in completes only for accounts with a verified email address.
    pub require_verified_email: bool,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            mode: "closed".to_owned(),
            allowed_email_domains: Vec::new(),
            require_verified_email: false,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter such as `info` or `portcullis=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: CONFIG_VERSION,
            data_dir: PathBuf::from("./portcullis-data"),
            database_url: None,
            database_max_connections: 16,
            redis_url: None,
            redis_prefix: "portcullis".to_owned(),
            redis_cluster: false,
            redis_codes: false,
            redis_sessions: false,
            auth: AuthConfig::default(),
            tokens: TokensConfig::default(),
            sessions: SessionsConfig::default(),
            keys: KeysConfig::default(),
            passwords: PasswordsConfig::default(),
            email: EmailConfig::default(),
            registration: RegistrationConfig::default(),
            client_registration: client_registration::ClientRegistrationConfig::default(),
            personal_access_tokens: personal_access_tokens::PersonalAccessTokensConfig::default(),
            federation: federation::FederationConfig::default(),
            log: LogConfig::default(),
            gateway: portcullis_gateway::GatewayConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 3010)),
            issuer: None,
            product_name: "Portcullis".to_owned(),
            direct_login_client: None,
            housekeeping_interval_secs: 300,
            audit_retention_days: 90,
            tls_cert_file: None,
            tls_key_file: None,
            trusted_proxies: Vec::new(),
            direct_login_origins: Vec::new(),
            outbound_private_networks: false,
            dpop_nonce: false,
            mfa_required: false,
            mfa_required_roles: Vec::new(),
            passkey_user_verification: portcullis_core::passkey::UserVerification::Required,
            sign_in_concurrency: 0,
            sign_in_max_wait_ms: u64::try_from(
                portcullis_service::credentials::SignInAdmission::default()
                    .max_wait
                    .as_millis(),
            )
            .unwrap_or(u64::MAX),
            sign_in_max_waiting: portcullis_service::credentials::SignInAdmission::default()
                .max_waiting,
            require_pushed_authorization_requests: false,
            client_cache_max_age_ms: 1000,
        }
    }
}

impl Default for TokensConfig {
    fn default() -> Self {
        TokensConfig {
            access_token_lifetime_secs: 15 * 60,
            max_access_token_lifetime_secs: 24 * 60 * 60,
            leeway_secs: 60,
            refresh_token_sliding_secs: 14 * 24 * 60 * 60,
            refresh_token_absolute_secs: 30 * 24 * 60 * 60,
            default_audience: portcullis_core::token::DEFAULT_AUDIENCE.to_owned(),
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            access_token_algorithm: "ES256".to_owned(),
            rotation_interval_secs: 30 * 24 * 60 * 60,
            prepublish_secs: 60 * 60,
            jwks_max_age_secs: 5 * 60,
            refresh_interval_secs: 10,
            key_encryption_key: None,
        }
    }
}

impl Default for PasswordsConfig {
    fn default() -> Self {
        let owasp = PasswordPolicy::default();
        PasswordsConfig {
            min_length: owasp.min_length,
            argon2_memory_kib: owasp.memory_kib,
            argon2_iterations: owasp.iterations,
            argon2_parallelism: owasp.parallelism,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".to_owned(),
            level: "info".to_owned(),
        }
    }
}

/// Flags that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--listen`
    pub listen: Option<SocketAddr>,
    /// `--issuer`
    pub issuer: Option<String>,
    /// `--admin-listen` of `serve auth`
    pub admin_listen: Option<SocketAddr>,
    /// `--listen` of `serve gateway`
    pub gateway_listen: Option<SocketAddr>,
    /// `--database-url`
    pub database_url: Option<String>,
    /// `--redis-url`
    pub redis_url: Option<String>,
}

impl Config {
    /// Loads the file (if any), applies the process environment and the flags, and validates.
    ///
    /// # Errors
    /// An unreadable file, unknown keys, wrong types or invalid values, each named.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> anyhow::Result<Self> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?,
            None => String::new(),
        };
        Self::from_sources(&text, std::env::vars(), flags).with_context(|| match file {
            Some(path) => format!("invalid configuration in {}", path.display()),
            None => "invalid configuration".to_owned(),
        })
    }

    /// Merges a TOML text, environment variables and flags, in rising precedence.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_sources(
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &FlagOverrides,
    ) -> anyhow::Result<Self> {
        let mut table: toml::Table =
            toml::from_str(toml_text).map_err(|error| anyhow::anyhow!("{}", error.message()))?;
        let env: Vec<(String, String)> = env.into_iter().collect();
        apply_env_overrides(&mut table, env.iter().cloned())?;
        let mut config: Config = serde_path_to_error::deserialize(table).map_err(|error| {
            let path = error.path().to_string();
            let message = error.into_inner().message().to_owned();
            if path == "." {
                anyhow::anyhow!("{message}")
            } else {
                anyhow::anyhow!("{path}: {message}")
            }
        })?;
        config.federation.apply_secret_variables(&env);
        if let Some(data_dir) = &flags.data_dir {
            config.data_dir = data_dir.clone();
        }
        if let Some(listen) = flags.listen {
            config.auth.listen = listen;
        }
        if let Some(issuer) = &flags.issuer {
            config.auth.issuer = Some(issuer.clone());
        }
        if let Some(listen) = flags.admin_listen {
            config.auth.admin_listen = listen;
        }
        if let Some(listen) = flags.gateway_listen {
            config.gateway.listen = listen;
        }
        if let Some(url) = &flags.database_url {
            config.database_url = Some(Secret::new(url.clone()));
        }
        if let Some(url) = &flags.redis_url {
            config.redis_url = Some(Secret::new(url.clone()));
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.federation.settings()?;
        if self.version != CONFIG_VERSION {
            bail!("version must be {CONFIG_VERSION}, found {}", self.version);
        }
        let tokens = &self.tokens;
        if tokens.access_token_lifetime_secs < 1
            || tokens.access_token_lifetime_secs > tokens.max_access_token_lifetime_secs
        {
            bail!(
                "tokens.access_token_lifetime_secs must be between 1 and tokens.max_access_token_lifetime_secs"
            );
        }
        if tokens.refresh_token_sliding_secs < 60
            || tokens.refresh_token_absolute_secs < tokens.refresh_token_sliding_secs
        {
            bail!(
                "tokens.refresh_token_sliding_secs must be at least 60 and at most tokens.refresh_token_absolute_secs"
            );
        }
        if self.sessions.idle_timeout_secs < 60
            || self.sessions.absolute_timeout_secs < self.sessions.idle_timeout_secs
        {
            bail!(
                "sessions.idle_timeout_secs must be at least 60 and at most sessions.absolute_timeout_secs"
            );
        }
        if self.auth.audit_retention_days < 1 {
            bail!("auth.audit_retention_days must be at least 1");
        }
        if self.auth.housekeeping_interval_secs == 0 {
            bail!("auth.housekeeping_interval_secs must be at least 1");
        }
        // A kept client is how long a change made behind a server's back can go unseen.
        if self.auth.client_cache_max_age_ms > 60_000 {
            bail!("auth.client_cache_max_age_ms must be at most 60000");
        }
        if self.auth.sign_in_concurrency > 1024 {
            bail!("auth.sign_in_concurrency must be at most 1024 (0: one per CPU)");
        }
        let upstream_limit = portcullis_gateway::upstream_budget::MAX_CONNECTIONS_LIMIT;
        if !(1..=upstream_limit).contains(&self.gateway.upstream_max_connections) {
            bail!("gateway.upstream_max_connections must be between 1 and {upstream_limit}");
        }
        if self.auth.product_name.trim().is_empty() || self.auth.product_name.len() > 64 {
            bail!("auth.product_name must be 1-64 characters");
        }
        if !(0..=3600).contains(&tokens.leeway_secs) {
            bail!("tokens.leeway_secs must be between 0 and 3600");
        }
        self.access_token_algorithm()?;
        let keys = &self.keys;
        if keys.refresh_interval_secs == 0 {
            bail!("keys.refresh_interval_secs must be at least 1");
        }
        // A verifier may hold the JWKS for max-age after a server last refreshed it; the new key
        // must be in every such copy before it signs.
        let needed =
            i64::try_from(keys.jwks_max_age_secs + keys.refresh_interval_secs).unwrap_or(i64::MAX);
        if keys.prepublish_secs < needed {
            bail!(
                "keys.prepublish_secs ({}) must be at least keys.jwks_max_age_secs + keys.refresh_interval_secs ({needed})",
                keys.prepublish_secs
            );
        }
        if keys.rotation_interval_secs < 0 {
            bail!("keys.rotation_interval_secs must be 0 (off) or positive");
        }
        if keys.rotation_interval_secs > 0 && keys.rotation_interval_secs <= keys.prepublish_secs {
            bail!("keys.rotation_interval_secs must be longer than keys.prepublish_secs");
        }
        if let Some(kek) = &keys.key_encryption_key {
            portcullis_jose::KeyEncryptionKey::from_base64url(kek.expose()).map_err(|_| {
                anyhow::anyhow!("keys.key_encryption_key must be 32 random bytes in base64url")
            })?;
        }
        portcullis_core::PasswordHasher::new(self.password_policy())
            .map_err(|error| anyhow::anyhow!("passwords: {error}"))?;
        if let Some(url) = &self.database_url
            && !portcullis_store::is_postgres_url(url.expose())
        {
            bail!("database_url must be a postgres:// URL");
        }
        if self.database_max_connections == 0 {
            bail!("database_max_connections must be at least 1");
        }
        if let Some(settings) = self.redis()
            && settings.check().is_err()
        {
            bail!(
                "redis_url must be a redis:// URL (with redis_cluster, a comma-separated list of them); TLS to Redis (rediss://) is not built in"
            );
        }
        if self.redis_cluster && self.redis_url.is_none() {
            bail!("redis_cluster needs redis_url");
        }
        if self.redis_codes && self.redis_url.is_none() {
            bail!("redis_codes needs redis_url");
        }
        if self.redis_sessions && self.redis_url.is_none() {
            bail!("redis_sessions needs redis_url");
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            bail!("redis_prefix must be a non-empty word");
        }
        self.validate_email()?;
        self.registration_policy()?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("log.format must be `text` or `json`");
        }
        let issuer = self.issuer();
        // RFC 8414 §2: the issuer is a URL with scheme https (http only for local use), no query
        // or fragment.
        if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
            || issuer.contains(['?', '#'])
        {
            bail!("auth.issuer must be an http(s) URL without query or fragment");
        }
        match (&self.auth.tls_cert_file, &self.auth.tls_key_file) {
            (None, None) => {}
            (Some(_), Some(_)) if !issuer.starts_with("https://") => {
                bail!("auth.issuer must be https:// when the auth server terminates TLS")
            }
            (Some(_), Some(_)) => {}
            _ => bail!("auth.tls_cert_file and auth.tls_key_file go together"),
        }
        portcullis_core::TrustedProxies::parse(&self.auth.trusted_proxies)
            .map_err(|error| anyhow::anyhow!("auth.trusted_proxies: {error}"))?;
        for origin in &self.auth.direct_login_origins {
            if portcullis_auth::origin::origin_of(origin).as_deref() != Some(origin.as_str()) {
                bail!(
                    "auth.direct_login_origins: `{origin}` is not an origin (scheme://host[:port])"
                );
            }
        }
        let audience = &tokens.default_audience;
        if audience.is_empty() || audience.contains(char::is_whitespace) {
            bail!("tokens.default_audience must be a non-empty word");
        }
        Ok(())
    }

    /// The issuer identifier: configured, or `http://<listen>` (`https://` with TLS).
    pub fn issuer(&self) -> String {
        let scheme = if self.auth.tls_cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        self.auth
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.auth.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// The configured access token algorithm.
    ///
    /// # Errors
    /// When it is not ES256, EdDSA or RS256.
    pub fn access_token_algorithm(&self) -> anyhow::Result<Algorithm> {
        self.keys.access_token_algorithm.parse().map_err(|_| {
            anyhow::anyhow!("keys.access_token_algorithm must be ES256, EdDSA or RS256")
        })
    }

    fn validate_email(&self) -> anyhow::Result<()> {
        let email = &self.email;
        if !["starttls", "tls", "none"].contains(&email.security.as_str()) {
            bail!("email.security must be `starttls`, `tls` or `none`");
        }
        if email.stuck_after_secs < 1 {
            bail!("email.stuck_after_secs must be at least 1");
        }
        if email.smtp_host.is_none() {
            return Ok(());
        }
        if email.from.is_none() {
            bail!("email.from is required with email.smtp_host");
        }
        if email.username.is_some() != email.password.is_some() {
            bail!("email.username and email.password go together");
        }
        Ok(())
    }

    /// The registration policy of `[registration]`.
    ///
    /// # Errors
    /// An unknown mode, a malformed domain, or registration or a verified-address requirement
    /// without `[email]` (nothing could verify an address).
    pub fn registration_policy(&self) -> anyhow::Result<portcullis_core::RegistrationPolicy> {
        let registration = &self.registration;
        let mode = portcullis_core::RegistrationMode::parse(&registration.mode)
            .context("registration.mode must be `closed`, `open` or `invite`")?;
        let mut domains = Vec::new();
        for domain in &registration.allowed_email_domains {
            let domain = domain.trim().to_lowercase();
            if domain.is_empty() || domain.contains(['@', '/', ' ']) || !domain.contains('.') {
                bail!("registration.allowed_email_domains: `{domain}` is not a domain name");
            }
            domains.push(domain);
        }
        let policy = portcullis_core::RegistrationPolicy {
            mode,
            allowed_email_domains: domains,
            require_verified_email: registration.require_verified_email,
        };
        if (policy.is_enabled() || policy.require_verified_email) && self.email.smtp_host.is_none()
        {
            bail!("registration needs [email] (email.smtp_host): addresses are verified by email");
        }
        Ok(policy)
    }

    /// The SMTP client's settings, when `[email]` names a server.
    ///
    /// # Errors
    /// An unreadable `email.ca_file`.
    pub fn smtp_settings(&self) -> anyhow::Result<Option<portcullis_smtp::SmtpSettings>> {
        let email = &self.email;
        let (Some(host), Some(from)) = (&email.smtp_host, &email.from) else {
            return Ok(None);
        };
        let security = match email.security.as_str() {
            "tls" => portcullis_smtp::SmtpSecurity::Tls,
            "none" => portcullis_smtp::SmtpSecurity::None,
            _ => portcullis_smtp::SmtpSecurity::StartTls,
        };
        let default_port = match security {
            portcullis_smtp::SmtpSecurity::StartTls => 587,
            portcullis_smtp::SmtpSecurity::Tls => 465,
            portcullis_smtp::SmtpSecurity::None => 25,
        };
        let ca_pem = email
            .ca_file
            .as_ref()
            .map(|path| {
                std::fs::read(path)
                    .with_context(|| format!("cannot read email.ca_file {}", path.display()))
            })
            .transpose()?;
        Ok(Some(portcullis_smtp::SmtpSettings {
            host: host.clone(),
            port: email.smtp_port.unwrap_or(default_port),
            security,
            credentials: email.username.clone().zip(
                email
                    .password
                    .as_ref()
                    .map(|secret| secret.expose().to_owned()),
            ),
            from: from.clone(),
            ca_pem,
            timeout: std::time::Duration::from_secs(30),
        }))
    }

    /// The password policy: minimum length and Argon2id parameters.
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: self.passwords.min_length,
            memory_kib: self.passwords.argon2_memory_kib,
            iterations: self.passwords.argon2_iterations,
            parallelism: self.passwords.argon2_parallelism,
        }
    }

    /// The Redis of the cluster, if one is configured.
    pub fn redis(&self) -> Option<portcullis_redis::RedisSettings> {
        self.redis_url
            .as_ref()
            .map(|url| portcullis_redis::RedisSettings {
                url: url.expose().to_owned(),
                prefix: self.redis_prefix.clone(),
                cluster: self.redis_cluster,
            })
    }

    /// Path of the embedded database.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("portcullis.db")
    }
}

#[cfg(test)]
mod tests;
