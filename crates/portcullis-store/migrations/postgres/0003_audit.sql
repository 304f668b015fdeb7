-- PostgreSQL twin of migrations/sqlite/0003_audit.sql.

CREATE TABLE audit_events (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    kind   TEXT   NOT NULL,
    detail TEXT   NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at);
