-- The audit log: one row per event, the event itself as a JSON object.

CREATE TABLE audit_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    detail TEXT    NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at);
