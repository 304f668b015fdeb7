//! `portcullis admin audit`: the newest audit events, oldest of them first.

use super::backend::Backend;
use crate::commands::format_time;
use clap::Args;

/// Audit listing flags.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// How many of the newest events to show.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Only events of this kind, such as `sign_in`, `token_issued`, `token_revoked` or
    /// `admin_action`.
    #[arg(long)]
    kind: Option<String>,
}

impl AuditArgs {
    pub(super) async fn run(self, backend: &Backend<'_>) -> anyhow::Result<()> {
        let mut records = backend.audit(self.kind, self.limit).await?;
        records.reverse();
        for record in &records {
            println!(
                "{}  {:<30} {}",
                format_time(record.at),
                record.kind,
                record.detail
            );
        }
        Ok(())
    }
}
