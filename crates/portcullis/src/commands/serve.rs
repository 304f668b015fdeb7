//! `portcullis serve auth`: runs the auth server until SIGTERM or SIGINT.

use crate::config::{Config, FlagOverrides};
use crate::{key_encryption, telemetry};
use anyhow::Context;
use clap::{Args, Subcommand};
use portcullis_auth::AppState;
use portcullis_core::SystemClock;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Servers.
#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// The OAuth 2.0 / OpenID Connect auth server.
    Auth(ServeAuthArgs),
    /// The API gateway: routes and policies come from the `[gateway]` section of the config.
    Gateway(ServeGatewayArgs),
}

/// Flags of `serve gateway`.
#[derive(Debug, Args)]
pub struct ServeGatewayArgs {
    /// Listen address. Default 127.0.0.1:4000.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Redis of the cluster: pushed revocations, key changes and shared rate limits.
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
}

/// Flags of `serve auth`.
#[derive(Debug, Args)]
pub struct ServeAuthArgs {
    /// Data directory (embedded SQLite at DIR/portcullis.db). Default ./portcullis-data.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Listen address. Default 127.0.0.1:3000.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Listen address of the admin API, health and metrics. Default 127.0.0.1:3010.
    #[arg(long, value_name = "ADDR:PORT")]
    admin_listen: Option<SocketAddr>,
    /// Issuer identifier. Default http://<listen>.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// PostgreSQL shared by several auth servers, instead of the embedded SQLite.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Redis of the cluster, where revocations and key changes are announced.
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
}

impl ServeCommand {
    /// Runs the server.
    ///
    /// # Errors
    /// Configuration, storage, key or listener failures.
    pub async fn run(self, config_file: Option<&Path>) -> anyhow::Result<()> {
        match self {
            ServeCommand::Auth(args) => serve_auth(args, config_file).await,
            ServeCommand::Gateway(args) => serve_gateway(args, config_file).await,
        }
    }
}

async fn serve_auth(args: ServeAuthArgs, config_file: Option<&Path>) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        data_dir: args.data_dir,
        listen: args.listen,
        admin_listen: args.admin_listen,
        issuer: args.issuer,
        database_url: args.database_url,
        redis_url: args.redis_url,
        ..FlagOverrides::default()
    };
    let config = Config::load(config_file, &flags)?;
    telemetry::init(&config.log);
    // Bind first: a taken port fails before anything is created in the data directory.
    let listener = tokio::net::TcpListener::bind(config.auth.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.auth.listen))?;
    let store = Arc::new(super::open_store(&config).await?);
    let kek = key_encryption::resolve(&config)?;
    let settings = super::auth_settings(&config)?;
    let state = AppState::build(
        store.clone(),
        kek,
        settings,
        config.password_policy(),
        Arc::new(SystemClock),
    )
    .await
    .context("cannot start the auth server")?;
    let (state, _follower) = crate::cluster::join(state, &config)?;
    let state = crate::email::attach(state, &config)?;
    let tls = super::auth_tls(&config)?;
    let address = listener.local_addr()?;
    tracing::info!(%address, issuer = %config.issuer(), tls = tls.is_some(), "auth server listening");
    let scheme = if tls.is_some() { "https" } else { "http" };
    let admin = tokio::net::TcpListener::bind(config.auth.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.auth.admin_listen))?;
    let admin_address = admin.local_addr()?;
    tracing::info!(address = %admin_address, "auth admin API listening");
    // Scripts and tests wait for this line, the only one on standard output (a reader may stop
    // after it); it carries the real port when 0 was asked for. The admin address is logged.
    println!("portcullis auth server listening on {scheme}://{address}");
    let listeners = portcullis_auth::Listeners {
        public: listener,
        tls,
        admin: Some(admin),
    };
    portcullis_auth::serve(listeners, state, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("auth server stopped");
    Ok(())
}

async fn serve_gateway(args: ServeGatewayArgs, config_file: Option<&Path>) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        gateway_listen: args.listen,
        redis_url: args.redis_url,
        ..FlagOverrides::default()
    };
    let mut config = Config::load(config_file, &flags)?;
    telemetry::init(&config.log);
    config.gateway.redis = config.redis();
    let running = portcullis_gateway::start(&config.gateway, shutdown_signal())
        .await
        .context("cannot start the gateway")?;
    tracing::info!(address = %running.address, admin = %running.admin_address, routes = config.gateway.routes.len(), "gateway listening");
    println!(
        "portcullis gateway listening on http://{} (admin http://{})",
        running.address, running.admin_address
    );
    if let Some(address) = running.forward_auth_address {
        tracing::info!(%address, "forward-auth listening");
        println!("portcullis forward-auth listening on http://{address}/_portcullis/auth");
    }
    #[cfg(unix)]
    let reloads = tokio::spawn(reload_on_hangup(
        running.gateway.clone(),
        config_file.map(Path::to_owned),
        flags,
    ));
    running.finished().await?;
    #[cfg(unix)]
    reloads.abort();
    tracing::info!("gateway stopped");
    Ok(())
}

/// On SIGHUP, re-reads the configuration and swaps in its routes; a bad configuration is logged
/// and the running one keeps serving.
#[cfg(unix)]
async fn reload_on_hangup(
    gateway: std::sync::Arc<portcullis_gateway::pipeline::Gateway>,
    config_file: Option<PathBuf>,
    flags: FlagOverrides,
) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::error!("cannot listen for SIGHUP; configuration reload is off");
        return;
    };
    while hangups.recv().await.is_some() {
        let reloaded = Config::load(config_file.as_deref(), &flags).and_then(|config| {
            portcullis_gateway::routes::RouteTable::build(&config.gateway)
                .map_err(anyhow::Error::from)
        });
        match reloaded {
            Ok(routes) => {
                gateway.replace_routes(routes);
                tracing::info!("configuration reloaded");
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "configuration reload refused; the previous routes keep serving")
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown requested; draining");
}
