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
    /// Issuer identifier. Default http://<listen>.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
}

impl ServeCommand {
    /// Runs the server.
    ///
    /// # Errors
    /// Configuration, storage, key or listener failures.
    pub async fn run(self, config_file: Option<&Path>) -> anyhow::Result<()> {
        match self {
            ServeCommand::Auth(args) => serve_auth(args, config_file).await,
        }
    }
}

async fn serve_auth(args: ServeAuthArgs, config_file: Option<&Path>) -> anyhow::Result<()> {
    let flags = FlagOverrides {
        data_dir: args.data_dir,
        listen: args.listen,
        issuer: args.issuer,
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
    let address = listener.local_addr()?;
    tracing::info!(%address, issuer = %config.issuer(), "auth server listening");
    // Scripts and tests wait for this line; it carries the real port when 0 was asked for.
    println!("portcullis auth server listening on http://{address}");
    portcullis_auth::serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("auth server stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
