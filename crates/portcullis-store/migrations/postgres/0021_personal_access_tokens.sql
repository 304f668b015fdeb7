-- Personal access tokens of users and API keys of service accounts (confidential clients): the
-- SHA-256 of the token (never the token), its name, scopes (space-separated), the networks it may
-- be used from (space-separated; empty: any), its lifetime and last use. Exactly one owner; the
-- tokens go with it.
CREATE TABLE personal_access_tokens (
    id           TEXT    PRIMARY KEY,
    token_hash   BYTEA   NOT NULL UNIQUE,
    user_id      TEXT    REFERENCES users (id) ON DELETE CASCADE,
    client_id    TEXT    REFERENCES clients (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    scope        TEXT    NOT NULL,
    networks     TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    CHECK ((user_id IS NULL) <> (client_id IS NULL))
);
CREATE INDEX personal_access_tokens_user ON personal_access_tokens (user_id);
CREATE INDEX personal_access_tokens_client ON personal_access_tokens (client_id);
CREATE INDEX personal_access_tokens_expiry ON personal_access_tokens (expires_at);
