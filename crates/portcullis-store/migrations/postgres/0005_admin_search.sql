-- Searching the audit log by subject and client (the admin API), newest first by index.
ALTER TABLE audit_events ADD COLUMN subject TEXT;
ALTER TABLE audit_events ADD COLUMN client_id TEXT;
CREATE INDEX audit_events_by_kind ON audit_events (kind, id);
CREATE INDEX audit_events_by_subject ON audit_events (subject, id);
CREATE INDEX audit_events_by_client ON audit_events (client_id, id);
-- The admin API's user search: username keys compared bytewise, so a prefix search and the
-- cursor are one range scan of this index whatever the database's collation.
CREATE INDEX users_username_key_bytes ON users (username_key COLLATE "C");
