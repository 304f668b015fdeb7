-- Searching the audit log by subject and client (the admin API), newest first by index.
ALTER TABLE audit_events ADD COLUMN subject TEXT;
ALTER TABLE audit_events ADD COLUMN client_id TEXT;
CREATE INDEX audit_events_by_kind ON audit_events (kind, id);
CREATE INDEX audit_events_by_subject ON audit_events (subject, id);
CREATE INDEX audit_events_by_client ON audit_events (client_id, id);
