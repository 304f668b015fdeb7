//! Audit events go to the log under the target `portcullis::audit`, one JSON object each, so they
//! can be routed to a separate sink by the log pipeline.

use portcullis_core::AuditEvent;

/// The log target of audit events.
pub const AUDIT_TARGET: &str = "portcullis::audit";

/// Records an audit event.
pub fn record(event: &AuditEvent) {
    match serde_json::to_string(event) {
        Ok(json) => tracing::info!(target: AUDIT_TARGET, audit = %json),
        Err(error) => tracing::error!(target: AUDIT_TARGET, %error, "audit event not serializable"),
    }
}
