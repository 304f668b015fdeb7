//! `portcullis`: the auth server, the admin CLI and token tools in one binary.

mod cluster;
mod commands;
mod config;
mod email;
mod key_encryption;
mod telemetry;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the gateway and auth server allocate and free small
/// buffers across worker threads on every request, where glibc's malloc cost 10-13% of the
/// gateway's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Portcullis: authentication and authorization for distributed systems.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole stack on this machine: auth server, gateway and two example services, with
    /// demo users and clients, and a walkthrough to paste.
    Up(commands::up::UpArgs),
    /// Run a server.
    #[command(subcommand)]
    Serve(commands::serve::ServeCommand),
    /// Manage users, clients and keys directly in the data directory.
    Admin(commands::admin::AdminArgs),
    /// Sign in with the browser (Authorization Code + PKCE, loopback redirect) and keep the tokens.
    Login(commands::login::LoginArgs),
    /// Print a valid access token (refreshed if needed); `decode` and `verify` inspect any token.
    Token {
        /// Inspect a token instead of printing yours.
        #[command(subcommand)]
        command: Option<commands::token::TokenCommand>,
    },
    /// Revoke your tokens and forget them.
    Logout,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config_file = cli.config.as_deref();
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => args.run(config_file).await,
            Command::Serve(command) => command.run(config_file).await,
            Command::Admin(args) => args.run(config_file).await,
            Command::Login(args) => args.run().await,
            Command::Token {
                command: Some(command),
            } => command.run().await,
            Command::Token { command: None } => commands::login::print_token().await,
            Command::Logout => commands::login::logout().await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
