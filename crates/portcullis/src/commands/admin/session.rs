//! `portcullis admin session ...`

use super::context::AdminContext;
use crate::commands::format_time;
use crate::config::Config;
use clap::Subcommand;
use portcullis_service::UserStore;
use portcullis_store::SqlStore;
use std::sync::Arc;

/// Session commands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sign-in sessions.
    List,
    /// End a session and revoke every token issued in it (gateways following the revocation feed
    /// reject them too).
    Revoke {
        /// The session id (`sid`), as listed.
        sid: String,
    },
}

impl SessionCommand {
    pub(super) async fn run(
        self,
        config: &Config,
        store: &SqlStore,
        context: &AdminContext,
    ) -> anyhow::Result<()> {
        let sessions = crate::cluster::session_store(config, Arc::new(store.clone()))?;
        match self {
            SessionCommand::List => {
                println!(
                    "{:<24} {:<24} {:<21} {:<21} EXPIRES",
                    "SID", "USER", "SIGNED IN", "LAST SEEN"
                );
                for session in sessions.list_sessions().await? {
                    let username = store
                        .find_user_by_id(&session.user_id)
                        .await?
                        .map_or_else(|| session.user_id.clone(), |user| user.username.to_string());
                    println!(
                        "{:<24} {:<24} {:<21} {:<21} {}",
                        session.sid,
                        username,
                        format_time(session.auth_time),
                        format_time(session.last_seen_at),
                        format_time(session.expires_at)
                    );
                }
            }
            SessionCommand::Revoke { sid } => {
                context.administration().revoke_session(&sid).await?;
                println!("revoked session {sid} and the tokens issued in it");
            }
        }
        Ok(())
    }
}
