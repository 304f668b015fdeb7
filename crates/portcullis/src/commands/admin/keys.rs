//! `portcullis admin keys ...`

use super::context::AdminContext;
use crate::commands::{format_time, key_policy};
use crate::config::Config;
use crate::key_encryption;
use anyhow::Context;
use clap::Subcommand;
use portcullis_core::{Clock, KeyMetadata, KeyStatus, SystemClock};
use portcullis_jose::Algorithm;
use portcullis_service::KeyManager;
use portcullis_service::SigningKeyStore;
use portcullis_store::SqlStore;
use std::sync::Arc;

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
    pub(super) async fn run(
        self,
        config: &Config,
        store: SqlStore,
        context: &AdminContext,
    ) -> anyhow::Result<()> {
        let policy = key_policy(config);
        let now = SystemClock.now();
        match self {
            KeysCommand::List => {
                let metadata: Vec<KeyMetadata> = store
                    .list_signing_keys()
                    .await?
                    .into_iter()
                    .map(|record| record.metadata)
                    .collect();
                let statuses = policy.statuses(&metadata, now);
                println!(
                    "{:<24} {:<6} {:<8} {:<21} {:<21} UNPUBLISHED",
                    "KID", "ALG", "STATUS", "CREATED", "SIGNS FROM"
                );
                for (key, status) in metadata.iter().zip(statuses) {
                    let unpublish = match status {
                        KeyStatus::Retired { unpublish_at } => format_time(unpublish_at),
                        _ => "-".to_owned(),
                    };
                    println!(
                        "{:<24} {:<6} {:<8} {:<21} {:<21} {unpublish}",
                        key.kid,
                        key.alg.as_str(),
                        status.name(),
                        format_time(key.created_at),
                        format_time(key.activates_at)
                    );
                }
            }
            KeysCommand::Rotate { algorithms } => {
                let algorithms: Vec<Algorithm> = if algorithms.is_empty() {
                    Algorithm::ALL.to_vec()
                } else {
                    algorithms
                        .iter()
                        .map(|name| {
                            name.parse().map_err(|_| {
                                anyhow::anyhow!(
                                    "unknown algorithm `{name}` (use ES256, EdDSA or RS256)"
                                )
                            })
                        })
                        .collect::<anyhow::Result<_>>()?
                };
                let kek = key_encryption::resolve(config)?;
                // Loading decrypts every existing key, which proves this is the server's KEK.
                let manager = KeyManager::load(Arc::new(store), kek, policy)
                    .await
                    .context("cannot load the existing keys")?;
                for key in context
                    .administration()
                    .rotate_keys(&manager, &algorithms)
                    .await?
                {
                    println!(
                        "created {} key {}: published now, signs from {}",
                        key.alg.as_str(),
                        key.kid,
                        format_time(key.activates_at)
                    );
                }
            }
        }
        Ok(())
    }
}
