//! `portcullis admin keys ...`

use super::backend::Backend;
use crate::commands::format_time;
use clap::Subcommand;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys with their status.
    List,
    /// Create new signing keys. They are published at once and start signing after the
    /// pre-publication period (keys.prepublish_secs).
    Rotate {
        /// Algorithms to rotate (default: all).
        #[arg(long = "alg", value_name = "ALG", num_args = 1.., value_delimiter = ',')]
        algorithms: Vec<String>,
    },
}

impl KeysCommand {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        match self {
            KeysCommand::List => {
                println!(
                    "{:<24} {:<6} {:<8} {:<21} {:<21} UNPUBLISHED",
                    "KID", "ALG", "STATUS", "CREATED", "SIGNS FROM"
                );
                for key in backend.keys().await? {
                    println!(
                        "{:<24} {:<6} {:<8} {:<21} {:<21} {}",
                        key.kid,
                        key.alg,
                        key.status,
                        format_time(key.created_at),
                        format_time(key.activates_at),
                        key.unpublish_at.map_or_else(|| "-".to_owned(), format_time)
                    );
                }
            }
            KeysCommand::Rotate { algorithms } => {
                for key in backend.rotate_keys(algorithms).await? {
                    println!(
                        "created {} key {}: published now, signs from {}",
                        key.alg,
                        key.kid,
                        format_time(key.activates_at)
                    );
                }
            }
        }
        Ok(())
    }
}
