//! Reading the audit log a page at a time.

use super::{AdminError, Administration, one_page};
use crate::AuditQuery;
use portcullis_core::AuditRecord;

/// One page of audit events, newest first, and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    /// The events, newest first.
    pub records: Vec<AuditRecord>,
    /// Pass as `before_id` for the next page; `None` on the last page (never a link to an
    /// empty page).
    pub next: Option<i64>,
}

impl Administration<'_> {
    /// The events matching `query`, at most `query.limit` (at least 1), newest first. Events
    /// this server recorded before the query are stored first (the log is written in the
    /// background), so an administrator reads what was just done.
    ///
    /// # Errors
    /// A store failure.
    pub async fn audit_page(&self, query: AuditQuery) -> Result<AuditPage, AdminError> {
        self.audit.flush().await;
        let limit = query.limit.max(1);
        let found = self
            .store
            .search_audit(&AuditQuery {
                limit: limit + 1,
                ..query
            })
            .await?;
        let (records, next) = one_page(found, limit, |record| record.id);
        Ok(AuditPage { records, next })
    }
}
