//! `portcullis admin invite`: a single-use link to `/register` for registration mode `invite`.

use super::backend::Backend;
use clap::Args;
use portcullis_auth::admin_api::invitations::NewInvitationBody;

/// `portcullis admin invite [--email ADDRESS] [--expires-in-secs N]`
#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The only address that may use the invitation (default: whoever holds the link).
    #[arg(long, value_name = "ADDRESS")]
    email: Option<String>,
    /// How long it works, 60 seconds to 90 days (default 7 days).
    #[arg(long, value_name = "SECONDS")]
    expires_in_secs: Option<i64>,
}

impl InviteArgs {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        let created = backend
            .create_invitation(NewInvitationBody {
                email: self.email,
                expires_in_secs: self.expires_in_secs,
            })
            .await?;
        println!("invitation (works once, shown only now): {}", created.link);
        if let Some(email) = created.email {
            println!("for: {email}");
        }
        println!(
            "expires: {}",
            portcullis_auth::pages::format_time(created.expires_at)
        );
        Ok(())
    }
}
