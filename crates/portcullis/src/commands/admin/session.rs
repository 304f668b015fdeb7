//! `portcullis admin session ...`

use super::backend::Backend;
use crate::commands::format_time;
use clap::Subcommand;

/// Session commands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sign-in sessions.
    List,
    /// End a session and revoke every token issued in it (gateways following the revocation feed
    /// reject them too).
    Revoke {
        /// The session id (`sid`), as listed. It may start with `-` (base64url).
        #[arg(allow_hyphen_values = true)]
        sid: String,
    },
}

impl SessionCommand {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        match self {
            SessionCommand::List => {
                println!(
                    "{:<24} {:<24} {:<21} {:<21} EXPIRES",
                    "SID", "USER", "SIGNED IN", "LAST SEEN"
                );
                for session in backend.sessions().await? {
                    println!(
                        "{:<24} {:<24} {:<21} {:<21} {}",
                        session.sid,
                        session.username.as_deref().unwrap_or(&session.user_id),
                        format_time(session.auth_time),
                        format_time(session.last_seen_at),
                        format_time(session.expires_at)
                    );
                }
            }
            SessionCommand::Revoke { sid } => {
                backend.revoke_session(&sid).await?;
                println!("revoked session {sid} and the tokens issued in it");
            }
        }
        Ok(())
    }
}
