#![allow(clippy::expect_used, clippy::panic)] // test support: a failed setup should stop the test loudly

//! Starts a real Portcullis auth server for tests: a loopback listener on a free port, a fresh
//! SQLite database in a temporary directory, and the same wiring the binary uses. The data
//! directory follows the binary's layout (`portcullis.db`, `key-encryption-key`), so the
//! `portcullis` CLI can be pointed at it with `--data-dir`.

pub mod browser;
pub mod caddy;
pub mod client_key;
pub mod dpop;
pub mod hostile;
pub mod nginx;
pub mod oidc_provider;
pub mod pki;
pub mod proxy;
pub mod services;
pub mod smtp;

/// A loopback address nothing listens on now, for a server (of a test, or one it starts) whose
/// address must be known before it starts. Never the same twice in one process: the kernel may
/// hand a port just released to the next probe, and two tests running side by side would then
/// start their servers on one port.
pub fn free_loopback_address() -> std::net::SocketAddr {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        let address = probe.local_addr().expect("address");
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !handed_out.contains(&address.port()) {
            handed_out.push(address.port());
            return address;
        }
    }
}

use portcullis_auth::settings::SignInSettings;
use portcullis_auth::{AppState, AuthSettings};
use portcullis_core::throttle::ThrottlePolicy;
use portcullis_core::{
    Client, ClientKind, ClientRegistration, Clock, KeyLifecyclePolicy, NewUser, PasswordHasher,
    PasswordPolicy, SecretHash, SystemClock, TokenPolicy, User, Username, generate_secret,
};
use portcullis_jose::{Algorithm, KeyEncryptionKey};
use portcullis_service::{ClientStore, UserStore};
use portcullis_store::{PoolSettings, SqlStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Name of the key-encryption key file, as the binary expects it.
pub const KEK_FILE: &str = "key-encryption-key";

/// Argon2 parameters for tests: real Argon2id, but cheap, so sign-in tests stay fast.
pub const FAST_PASSWORDS: PasswordPolicy = PasswordPolicy {
    min_length: portcullis_core::password::DEFAULT_MIN_PASSWORD_LENGTH,
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// Knobs of a test server.
#[derive(Clone)]
pub struct TestOptions {
    /// Access token algorithm.
    pub algorithm: Algorithm,
    /// Default access token lifetime.
    pub access_token_lifetime_secs: i64,
    /// Pre-publication period of new keys.
    pub prepublish_secs: i64,
    /// JWKS `max-age`.
    pub jwks_max_age_secs: u64,
    /// Key refresh interval.
    pub key_refresh_interval: Duration,
    /// Automatic rotation interval; `None` rotates only on request.
    pub rotation_interval_secs: Option<i64>,
    /// The client `POST /login` serves; `None` disables it.
    pub direct_login_client: Option<String>,
    /// The server's clock; tests that need time to pass share a [`ManualClock`].
    pub clock: Arc<dyn Clock>,
    /// How often expired state is purged.
    pub housekeeping_interval: Duration,
    /// The issuer; `None` for the server's own `http://127.0.0.1:<port>`. Servers of one cluster
    /// share the issuer of the first.
    pub issuer: Option<String>,
    /// A PostgreSQL database instead of the temporary SQLite file.
    pub database_url: Option<String>,
    /// The key-encryption key (base64url); servers sharing a database must share it.
    pub key_encryption_key: Option<String>,
    /// The cluster's Redis, where revocations and key changes are announced.
    pub redis: Option<portcullis_redis::RedisSettings>,
    /// Keep authorization codes in that Redis.
    pub redis_codes: bool,
    /// Keep browser sessions in that Redis.
    pub redis_sessions: bool,
    /// How long a client read from the store is used (`auth.client_cache_max_age_ms`).
    pub client_cache_max_age: Duration,
    /// Serve over TLS with this certificate (the base URL and issuer become `https://`).
    pub tls: Option<pki::IssuedCertificate>,
    /// Proxies whose `X-Forwarded-For` the server believes.
    pub trusted_proxies: portcullis_core::TrustedProxies,
    /// Origins besides the issuer's allowed to call `POST /login`.
    pub direct_login_origins: Vec<String>,
    /// Send the email outbox through this mailer (polled every 200 ms).
    pub mailer: Option<Arc<dyn portcullis_service::Mailer>>,
    /// Who may register, and whether sign-in needs a verified address.
    pub registration: portcullis_core::RegistrationPolicy,
    /// Requests to client-registered URLs may reach loopback (the default here: test servers
    /// listen there); `false` shows the SSRF guard.
    pub outbound_private_networks: bool,
    /// DPoP proofs at the token endpoint must carry a server nonce.
    pub dpop_nonce: bool,
    /// Who must sign in with a second factor.
    pub mfa: portcullis_core::MfaPolicy,
    /// Whether passkey ceremonies need the authenticator to verify the user.
    pub passkey_user_verification: portcullis_core::passkey::UserVerification,
    /// `/authorize` takes only pushed authorization requests.
    pub require_pushed_authorization_requests: bool,
    /// Dynamic client registration (RFC 7591); off by default.
    pub client_registration: portcullis_core::client_metadata::DynamicRegistrationPolicy,
    /// Personal access tokens; off by default.
    pub personal_access_tokens: portcullis_service::personal_access_tokens::TokenPolicy,
    /// The public listener's address (e.g. from [`free_loopback_address`], when a provider must
    /// know the server's address first); by default any free port.
    pub listen: Option<std::net::SocketAddr>,
    /// Upstream identity providers; none by default.
    pub federation: portcullis_auth::federation::FederationSettings,
}

/// A clock that starts at the real time and moves only when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading the current real time.
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock(AtomicI64::new(SystemClock.now())))
    }

    /// Moves time forward.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Brute-force protection that locks an account after 4 failures and slows a network after 8,
/// with millisecond delays, so lockout tests run quickly.
pub const FAST_THROTTLE: ThrottlePolicy = ThrottlePolicy {
    free_attempts: 2,
    lock_after: 4,
    network_free_attempts: 8,
    lock_secs: 900,
    window_secs: 900,
    max_keys: 1000,
    base_delay_ms: 5,
};

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            algorithm: Algorithm::Es256,
            access_token_lifetime_secs: 900,
            prepublish_secs: 3,
            jwks_max_age_secs: 1,
            key_refresh_interval: Duration::from_millis(200),
            rotation_interval_secs: None,
            direct_login_client: None,
            clock: Arc::new(SystemClock),
            housekeeping_interval: Duration::from_secs(300),
            issuer: None,
            database_url: None,
            key_encryption_key: None,
            redis: None,
            redis_codes: false,
            redis_sessions: false,
            client_cache_max_age: Duration::from_secs(1),
            tls: None,
            trusted_proxies: portcullis_core::TrustedProxies::default(),
            direct_login_origins: Vec::new(),
            mailer: None,
            registration: portcullis_core::RegistrationPolicy::default(),
            outbound_private_networks: true,
            dpop_nonce: false,
            mfa: portcullis_core::MfaPolicy::default(),
            passkey_user_verification: portcullis_core::passkey::UserVerification::Required,
            require_pushed_authorization_requests: false,
            client_registration:
                portcullis_core::client_metadata::DynamicRegistrationPolicy::default(),
            personal_access_tokens: portcullis_service::personal_access_tokens::TokenPolicy {
                max_lifetime_days: 90,
                ..Default::default()
            },
            listen: None,
            federation: portcullis_auth::federation::FederationSettings::default(),
        }
    }
}

/// A running auth server.
pub struct TestAuthServer {
    /// `http://127.0.0.1:<port>`; also the issuer unless [`TestOptions::issuer`] names another.
    pub base_url: String,
    /// `http://127.0.0.1:<port>` of the admin listener (admin API, health, metrics).
    pub admin_url: String,
    /// The server's state, for direct store access.
    pub state: AppState,
    data_dir: DataDir,
    store: Arc<SqlStore>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _client_changes: Option<portcullis_redis::ClientChangeFollower>,
}

/// A data directory that is either owned (deleted on drop) or borrowed from a previous server.
enum DataDir {
    Owned(TempDir),
    Path(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Owned(dir) => dir.path(),
            DataDir::Path(path) => path,
        }
    }
}

impl TestAuthServer {
    /// Starts a server with default options in a new temporary directory.
    pub async fn start() -> Self {
        Self::start_with(TestOptions::default()).await
    }

    /// Starts a server with `options` in a new temporary directory.
    pub async fn start_with(options: TestOptions) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let kek = match &options.key_encryption_key {
            Some(kek) => kek.clone(),
            None => KeyEncryptionKey::generate()
                .expect("key-encryption key")
                .to_base64url(),
        };
        std::fs::write(dir.path().join(KEK_FILE), kek).expect("write KEK");
        Self::start_in(DataDir::Owned(dir), options).await
    }

    /// Starts a server over an existing data directory (a restart). The caller keeps the
    /// directory alive.
    pub async fn start_in_dir(path: &Path, options: TestOptions) -> Self {
        Self::start_in(DataDir::Path(path.to_owned()), options).await
    }

    async fn start_in(data_dir: DataDir, options: TestOptions) -> Self {
        let kek_text = std::fs::read_to_string(data_dir.path().join(KEK_FILE)).expect("read KEK");
        let kek = KeyEncryptionKey::from_base64url(&kek_text).expect("valid KEK");
        let store = Arc::new(match &options.database_url {
            Some(url) => SqlStore::connect_postgres(url, PoolSettings::default())
                .await
                .expect("connect to PostgreSQL"),
            None => SqlStore::open_sqlite(&data_dir.path().join("portcullis.db"))
                .await
                .expect("open store"),
        });
        let address = options
            .listen
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(address).await.expect("bind");
        let scheme = if options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let base_url = format!("{scheme}://{}", listener.local_addr().expect("address"));
        let tls = options.tls.as_ref().map(|certificate| {
            portcullis_tls::acceptor(&certificate.cert_file, &certificate.key_file)
                .expect("TLS certificate")
        });
        let issuer = options.issuer.clone().unwrap_or_else(|| base_url.clone());
        let max_lifetime = 3600;
        let settings = AuthSettings {
            token_policy: TokenPolicy {
                issuer: issuer.clone(),
                default_audience: portcullis_core::token::DEFAULT_AUDIENCE.into(),
                default_access_token_lifetime_secs: options.access_token_lifetime_secs,
                max_access_token_lifetime_secs: max_lifetime,
            },
            key_policy: KeyLifecyclePolicy {
                prepublish_secs: options.prepublish_secs,
                retention_secs: max_lifetime + 60,
                rotation_interval_secs: options.rotation_interval_secs,
            },
            access_token_algorithm: options.algorithm,
            jwks_max_age_secs: options.jwks_max_age_secs,
            key_refresh_interval: options.key_refresh_interval,
            sign_in: SignInSettings {
                direct_login_client: options.direct_login_client.clone(),
                direct_login_origins: options.direct_login_origins.clone(),
                throttle: FAST_THROTTLE,
                housekeeping_interval: options.housekeeping_interval,
                mfa: options.mfa.clone(),
                passkey_user_verification: options.passkey_user_verification,
                ..SignInSettings::default()
            },
            registration: options.registration.clone(),
            trusted_proxies: options.trusted_proxies.clone(),
            verifier_leeway_secs: 60,
            outbound_private_networks: options.outbound_private_networks,
            dpop_nonce: options.dpop_nonce,
            require_pushed_authorization_requests: options.require_pushed_authorization_requests,
            client_registration: options.client_registration.clone(),
            personal_access_tokens: options.personal_access_tokens.clone(),
            federation: options.federation.clone(),
            client_cache_max_age: options.client_cache_max_age,
        };
        let state = AppState::build(
            store.clone(),
            kek,
            settings,
            FAST_PASSWORDS,
            options.clock.clone(),
        )
        .await
        .expect("server state");
        let state = match &options.redis {
            Some(redis) => state.with_announcer(Arc::new(
                portcullis_redis::EventPublisher::start(redis, &issuer).expect("Redis URL"),
            )),
            None => state,
        };
        let mut state = state;
        let client_changes = match &options.redis {
            Some(redis) => {
                let follower = portcullis_redis::follow_client_changes(
                    redis,
                    state.client_cache.clone(),
                    &issuer,
                );
                // Changes announced once the server is up must reach it.
                assert!(
                    follower.subscribed(Duration::from_secs(10)).await,
                    "client changes not followed"
                );
                Some(follower)
            }
            None => None,
        };
        if let Some(redis) = &options.redis {
            let link = Arc::new(portcullis_redis::RedisLink::new(redis).expect("Redis URL"));
            state = state
                .with_sign_in_throttle(Arc::new(portcullis_redis::RedisThrottle::new(
                    link.clone(),
                    &redis.prefix,
                    FAST_THROTTLE,
                )))
                .with_proof_replay(
                    Arc::new(portcullis_redis::RedisReplay::new(
                        link.clone(),
                        &redis.prefix,
                    )),
                    Arc::new(portcullis_redis::RedisReplay::new(
                        link.clone(),
                        &format!("{}:assertions", redis.prefix),
                    )),
                );
            if options.redis_codes {
                state = state.with_code_store(Arc::new(portcullis_redis::RedisCodeStore::new(
                    link.clone(),
                    &redis.prefix,
                )));
            }
            if options.redis_sessions {
                state = state.with_session_store(Arc::new(
                    portcullis_redis::RedisSessionStore::new(link, &redis.prefix),
                ));
            }
        }
        if let Some(mailer) = &options.mailer {
            state = state.with_email(portcullis_auth::EmailDelivery {
                mailer: mailer.clone(),
                stuck_after_secs: 60,
                poll_interval: Duration::from_millis(200),
            });
        }
        let (shutdown, shutdown_signal) = oneshot::channel::<()>();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind admin");
        let admin_url = format!("http://{}", admin.local_addr().expect("admin address"));
        let listeners = portcullis_auth::Listeners {
            public: listener,
            tls,
            admin: Some(admin),
        };
        let task = tokio::spawn(portcullis_auth::serve(
            listeners,
            state.clone(),
            async move {
                let _ = shutdown_signal.await;
            },
        ));
        TestAuthServer {
            base_url,
            admin_url,
            state,
            data_dir,
            store,
            shutdown: Some(shutdown),
            task: Some(task),
            _client_changes: client_changes,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Registers a client directly in the store; returns the secret of a confidential client
    /// (one registered with keys has none: it uses `private_key_jwt`).
    pub async fn add_client(&self, registration: ClientRegistration) -> (Client, Option<String>) {
        let secret = (registration.kind == ClientKind::Confidential && registration.keys.is_none())
            .then(|| generate_secret(32).expect("secret"));
        let client = registration
            .into_client(
                secret.as_deref().map(SecretHash::of),
                3600,
                SystemClock.now(),
            )
            .expect("valid registration");
        self.store
            .create_client(&client)
            .await
            .expect("store client");
        (client, secret)
    }

    /// Creates a user with `password` (hashed with [`FAST_PASSWORDS`]).
    pub async fn add_user(&self, username: &str, roles: &[&str], password: &str) -> User {
        let hash = PasswordHasher::new(FAST_PASSWORDS)
            .expect("hasher")
            .hash(password)
            .expect("hash");
        let user = NewUser {
            username: Username::parse(username).expect("username"),
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            email: Some(format!("{username}@example.com")),
            password_hash: hash,
        }
        .into_user(SystemClock.now());
        self.store.create_user(&user).await.expect("store user");
        user
    }

    /// Stops the server gracefully and closes the store; returns the data directory so a test can
    /// start another server over it (dropping it deletes an owned directory).
    pub async fn stop(mut self) -> Option<TempDir> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server result");
        }
        self.store.close().await;
        match std::mem::replace(&mut self.data_dir, DataDir::Path(PathBuf::new())) {
            DataDir::Owned(dir) => Some(dir),
            DataDir::Path(_) => None,
        }
    }

    /// The server's clock reading.
    pub fn now(&self) -> i64 {
        self.state.clock.now()
    }
}
