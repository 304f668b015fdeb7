-- Roles and the scopes they grant (space-separated scope tokens); indexes for paging.
CREATE TABLE roles (
    name        TEXT   PRIMARY KEY,
    scopes      TEXT   NOT NULL,
    description TEXT,
    updated_at  BIGINT NOT NULL
);

-- The console's session pages, newest first, all or one user's, by index.
CREATE INDEX sessions_by_creation ON sessions (created_at, sid);
CREATE INDEX sessions_by_user_creation ON sessions (user_id, created_at, sid);
-- The console's client search: ids compared bytewise, as the user search (migration 0005).
CREATE INDEX clients_id_bytes ON clients (id COLLATE "C");
