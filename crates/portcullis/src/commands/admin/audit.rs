//! `portcullis admin audit`: the newest audit events, oldest of them first.

use crate::commands::format_time;
use clap::Args;
use portcullis_service::{AuditQuery, AuditStore};
use portcullis_store::SqlStore;

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
    pub(super) async fn run(self, store: &SqlStore) -> anyhow::Result<()> {
        let mut records = store
            .search_audit(&AuditQuery {
                kind: self.kind,
                limit: self.limit,
                ..AuditQuery::default()
            })
            .await?;
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
