//! `portcullis up`: the whole stack on one machine over embedded SQLite, for a first look. The
//! auth server, the gateway and the two example services run in this process; demo users and
//! clients are created on first start; a walkthrough is printed whose commands work as pasted.

mod corp_sso;
mod demo;
mod walkthrough;

use crate::config::{Config, FlagOverrides};
use crate::{key_encryption, telemetry};
use anyhow::Context;
use clap::Args;
use portcullis_auth::AppState;
use portcullis_core::SystemClock;
use portcullis_core::personal_access_token::TOKEN_PREFIX;
use portcullis_gateway::GatewayConfig;
use portcullis_gateway::config::{
    IntrospectionConfig, IssuerConfig, RevocationFeedConfig, RouteConfig, SessionConfig,
};
use portcullis_sdk::Verifier;
use portcullis_sdk::client::{ClientConfig, RelyingParty};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Flags of `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Data directory. Default ./portcullis-data.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Auth server port.
    #[arg(long, default_value_t = 3000)]
    auth_port: u16,
    /// Auth server admin API port (loopback only).
    #[arg(long, default_value_t = 3010)]
    auth_admin_port: u16,
    /// Gateway port.
    #[arg(long, default_value_t = 4000)]
    gateway_port: u16,
    /// users-service port.
    #[arg(long, default_value_t = 3001)]
    users_port: u16,
    /// products-service port.
    #[arg(long, default_value_t = 3002)]
    products_port: u16,
    /// MCP example server port (behind the gateway's /mcp).
    #[arg(long, default_value_t = 3003)]
    mcp_port: u16,
    /// Web-app example port (signs users in through the SDK's relying party).
    #[arg(long, default_value_t = 3004)]
    web_app_port: u16,
    /// Example Corp SSO's port: a second identity provider to sign in through.
    #[arg(long, default_value_t = 3005)]
    corp_sso_port: u16,
    /// PostgreSQL instead of the embedded SQLite (needs keys.key_encryption_key).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Redis for pushed revocations and shared rate limits.
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// The auth server's host name in the issuer (`http://<HOST>:<auth port>`); the default is
    /// its address, 127.0.0.1. `localhost` turns passkeys on: WebAuthn refuses IP addresses.
    #[arg(long, value_name = "HOST", value_parser = issuer_host)]
    issuer_host: Option<String>,
}

/// A host name for the issuer: letters, digits, dots and dashes only.
fn issuer_host(host: &str) -> Result<String, String> {
    let valid = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-');
    if valid {
        Ok(host.to_ascii_lowercase())
    } else {
        Err("a host name (letters, digits, dots and dashes)".to_owned())
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn bind(port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(loopback(port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} for {what} (choose another port with the flags of `portcullis up`)"))
}

/// Serves an example service until `stop` changes.
fn spawn_service(
    listener: TcpListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.changed().await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(%error, "example service failed");
        }
    })
}

fn public_route(name: &str, prefix: &str, upstream: SocketAddr) -> RouteConfig {
    authenticated_route(name, prefix, upstream).public()
}

/// A route for users who signed in with two factors (RFC 9470 step-up at the edge).
fn two_factor_route(name: &str, prefix: &str, upstream: SocketAddr) -> RouteConfig {
    RouteConfig {
        require_acr: vec![users_service::TWO_FACTORS.to_owned()],
        require_amr: vec!["mfa".to_owned()],
        ..authenticated_route(name, prefix, upstream)
    }
}

fn authenticated_route(name: &str, prefix: &str, upstream: SocketAddr) -> RouteConfig {
    RouteConfig {
        max_body_bytes: 1024 * 1024,
        ..RouteConfig::new(name, prefix, &format!("http://{upstream}"))
    }
}

impl UpArgs {
    /// Runs the stack until Ctrl-C or SIGTERM.
    ///
    /// # Errors
    /// Configuration, storage, key or listener failures.
    pub async fn run(self, config_file: Option<&Path>) -> anyhow::Result<()> {
        let flags = FlagOverrides {
            data_dir: self.data_dir.clone(),
            listen: Some(loopback(self.auth_port)),
            database_url: self.database_url.clone(),
            redis_url: self.redis_url.clone(),
            ..FlagOverrides::default()
        };
        let mut config = Config::load(config_file, &flags)?;
        if std::env::var_os("PORTCULLIS_LOG_LEVEL").is_none()
            && std::env::var_os("RUST_LOG").is_none()
        {
            config.log.level = "warn".into();
        }
        config.auth.issuer = self
            .issuer_host
            .as_ref()
            .map(|host| format!("http://{host}:{}", self.auth_port));
        config.auth.direct_login_client = Some(demo::WEB_CLIENT.into());
        telemetry::init(&config.log);
        // Bind everything first, so a busy port fails before anything is created.
        let auth_listener = bind(self.auth_port, "the auth server").await?;
        let auth_admin_listener = bind(self.auth_admin_port, "the auth admin API").await?;
        let users_listener = bind(self.users_port, "users-service").await?;
        let products_listener = bind(self.products_port, "products-service").await?;
        let mcp_listener = bind(self.mcp_port, "mcp-server").await?;
        let web_app_listener = bind(self.web_app_port, "web-app").await?;
        let corp_listener = bind(self.corp_sso_port, "Example Corp SSO").await?;
        let issuer = config.issuer();
        let gateway_url = format!("http://{}", loopback(self.gateway_port));
        // Sign-ins reach the auth server through the gateway: its X-Forwarded-For names the
        // client (per-address throttling), and pages it serves may call POST /login.
        if config.auth.trusted_proxies.is_empty() {
            config.auth.trusted_proxies = vec!["127.0.0.1".into()];
        }
        config.auth.direct_login_origins.push(gateway_url.clone());
        // Clients register themselves (RFC 7591), or are known by their metadata documents,
        // as MCP clients are, for the demo APIs: open on this one-machine stack unless
        // configured (documents are fetched from public https hosts only).
        if config.client_registration.mode == "off"
            && std::env::var_os("PORTCULLIS_CLIENT_REGISTRATION_MODE").is_none()
        {
            config.client_registration.mode = "open".into();
            config.client_registration.metadata_documents = true;
            config
                .client_registration
                .scopes
                .push("products:read".into());
            config.client_registration.audiences = vec![
                demo::products_resource(&gateway_url),
                demo::mcp_resource(&gateway_url),
            ];
        }
        // Personal access tokens for the demo APIs, accepted by the gateway (docs/accounts.md).
        if !config.personal_access_tokens.enabled
            && std::env::var_os("PORTCULLIS_PERSONAL_ACCESS_TOKENS_ENABLED").is_none()
        {
            config.personal_access_tokens.enabled = true;
            config.personal_access_tokens.scopes = vec!["products:read".into()];
            config.personal_access_tokens.audiences =
                vec![gateway_url.clone(), demo::products_resource(&gateway_url)];
        }
        let store = Arc::new(super::open_store(&config).await?);
        let seeded = demo::seed(store.as_ref(), &config, &gateway_url).await?;
        let feed_secret =
            demo::rotate_gateway_secret(store.as_ref(), &config, &gateway_url).await?;
        let web_app_secret = demo::web_app_secret(store.as_ref(), &config).await?;
        let session_secret =
            demo::session_client_secret(store.as_ref(), &config, &gateway_url).await?;

        let (stop, stopped) = watch::channel(false);
        // Another identity provider to sign in through (docs/federation.md).
        let demo_password = std::env::var("PORTCULLIS_DEMO_PASSWORD")
            .ok()
            .filter(|password| !password.is_empty())
            .or_else(|| {
                seeded
                    .as_ref()
                    .and_then(|seeded| seeded.generated_password.clone())
            });
        let corp = corp_sso::CorpSso::start(
            corp_listener,
            &mut config,
            demo_password.as_deref(),
            stopped.clone(),
        )
        .await?;
        let kek = key_encryption::resolve(&config)?;
        let state = AppState::build(
            store.clone(),
            kek,
            super::auth_settings(&config)?,
            config.password_policy(),
            Arc::new(SystemClock),
        )
        .await
        .context("cannot start the auth server")?;
        let (state, _follower) = crate::cluster::join(state, &config)?;
        let state = crate::email::attach(state, &config)?;
        let mut auth_stop = stopped.clone();
        let listeners = portcullis_auth::Listeners {
            public: auth_listener,
            tls: None,
            admin: Some(auth_admin_listener),
        };
        let auth = tokio::spawn(portcullis_auth::serve(listeners, state, async move {
            let _ = auth_stop.changed().await;
        }));

        let verifier = |audience: &str| {
            let issuer = issuer.clone();
            let audience = audience.to_owned();
            async move {
                Verifier::for_issuer(&issuer, Some(&audience))
                    .await
                    .map(Arc::new)
            }
        };
        let users = spawn_service(
            users_listener,
            users_service::router(verifier(&gateway_url).await?),
            stopped.clone(),
        );
        let products = spawn_service(
            products_listener,
            products_service::router(verifier(&gateway_url).await?),
            stopped.clone(),
        );
        let mcp = spawn_service(
            mcp_listener,
            mcp_server::router(verifier(&demo::mcp_resource(&gateway_url)).await?),
            stopped.clone(),
        );
        let web_app_party = RelyingParty::discover(
            &issuer,
            ClientConfig {
                client_id: demo::WEB_APP_CLIENT.into(),
                client_secret: Some(web_app_secret),
                redirect_uri: format!("http://{}/callback", loopback(self.web_app_port)),
            },
        )
        .await
        .context("the web-app example cannot reach the auth server")?;
        let web_app = spawn_service(
            web_app_listener,
            web_app::router(web_app::WebApp::new(web_app_party)),
            stopped.clone(),
        );

        let auth_address = loopback(self.auth_port);
        let mut routes = vec![
            two_factor_route("users-admin", "/users/admin", loopback(self.users_port)),
            RouteConfig {
                // Browsers without a token sign in through the gateway (session mode).
                session: true,
                ..authenticated_route("users", "/users", loopback(self.users_port))
            },
            RouteConfig {
                // RFC 9728: its metadata names the auth server; its tokens carry this in `aud`.
                resource: Some(demo::products_resource(&gateway_url)),
                ..authenticated_route("products", "/products", loopback(self.products_port))
            },
            public_route("public", "/public", loopback(self.products_port)),
            RouteConfig {
                // An MCP server: clients find the auth server through its metadata, register
                // themselves and ask for these scopes (offline_access: a refresh token).
                resource: Some(demo::mcp_resource(&gateway_url)),
                resource_scopes: vec!["products:read".into(), "offline_access".into()],
                ..authenticated_route("mcp", "/mcp", loopback(self.mcp_port))
            },
        ];
        for (name, prefix) in [
            ("authorize", "/authorize"),
            ("signin", "/signin"),
            ("login", "/login"),
            ("token", "/token"),
            ("userinfo", "/userinfo"),
            ("revoke", "/revoke"),
            ("introspect", "/introspect"),
            ("logout", "/logout"),
            ("well-known", "/.well-known"),
        ] {
            routes.push(public_route(name, prefix, auth_address));
        }
        let gateway_config = GatewayConfig {
            listen: loopback(self.gateway_port),
            admin_listen: loopback(0),
            issuers: vec![IssuerConfig {
                // Personal access tokens and API keys, by introspection.
                introspection: Some(IntrospectionConfig {
                    url: format!("{issuer}/introspect"),
                    client_id: demo::GATEWAY_CLIENT.into(),
                    client_secret: feed_secret.clone(),
                    token_prefix: Some(TOKEN_PREFIX.into()),
                    cache_secs: 30,
                    negative_cache_secs: 5,
                }),
                revocation_feed: Some(RevocationFeedConfig {
                    client_id: demo::GATEWAY_CLIENT.into(),
                    client_secret: feed_secret,
                    poll_interval_ms: 500,
                }),
                ..IssuerConfig::new(&issuer, &gateway_url)
            }],
            routes,
            redis: config.redis(),
            api_key_header: config
                .gateway
                .api_key_header
                .clone()
                .or_else(|| Some("x-api-key".into())),
            // The decision point for nginx, Traefik, Caddy or Envoy in front (docs/forward-auth.md).
            forward_auth_listen: config
                .gateway
                .forward_auth_listen
                .or_else(|| Some(loopback(0))),
            public_url: config
                .gateway
                .public_url
                .clone()
                .or_else(|| Some(gateway_url.clone())),
            // The backend for browsers (docs/gateway.md#browser-sessions-backend-for-frontend).
            session: config.gateway.session.clone().or_else(|| {
                Some(SessionConfig {
                    scopes: ["openid", "profile", "offline_access"]
                        .map(str::to_owned)
                        .to_vec(),
                    post_logout_redirect_uri: Some(demo::after_session_logout(&gateway_url)),
                    ..SessionConfig::new(&issuer, demo::SESSION_CLIENT, &session_secret)
                })
            }),
            ..config.gateway.clone()
        };
        let mut gateway_stop = stopped.clone();
        let gateway = portcullis_gateway::start(&gateway_config, async move {
            let _ = gateway_stop.changed().await;
        })
        .await
        .context("cannot start the gateway")?;

        println!(
            "{}",
            walkthrough::render(&walkthrough::Stack {
                issuer: &issuer,
                gateway: &gateway_url,
                gateway_admin: gateway.admin_address,
                forward_auth: gateway.forward_auth_address,
                auth_admin: loopback(self.auth_admin_port),
                users: loopback(self.users_port),
                products: loopback(self.products_port),
                mcp: loopback(self.mcp_port),
                web_app: loopback(self.web_app_port),
                corp_sso: &corp.issuer,
                data_dir: &config.data_dir,
                seeded: seeded.as_ref(),
                registration_open: config.registration_policy()?.is_enabled(),
            })
        );
        super::serve::shutdown_signal().await;
        let _ = stop.send(true);
        gateway.finished().await?;
        for task in [users, products, mcp, web_app] {
            let _ = task.await;
        }
        auth.await.map_err(std::io::Error::other)??;
        corp.close().await;
        store.close().await;
        println!("Portcullis stopped.");
        Ok(())
    }
}
