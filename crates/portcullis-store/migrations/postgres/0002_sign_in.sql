-- PostgreSQL twin of migrations/sqlite/0002_sign_in.sql: the same tables and columns, so the one set of
-- queries in src/sql serves both. Integers are BIGINT, bytes BYTEA.

-- Sign-in and OpenID Connect: client options, sessions, consents, authorization codes,
-- refresh token families and the revocation feed. Secrets (session cookies, codes, refresh
-- tokens) are stored only as SHA-256 hashes.

ALTER TABLE clients ADD COLUMN first_party BIGINT NOT NULL DEFAULT 0 CHECK (first_party IN (0, 1));
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN id_token_algorithm TEXT;

CREATE TABLE sessions (
    secret_hash  BYTEA    PRIMARY KEY,
    sid          TEXT    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE consents (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE authorization_codes (
    code_hash         BYTEA    PRIMARY KEY,
    client_id         TEXT    NOT NULL,
    redirect_uri      TEXT    NOT NULL,
    code_challenge    TEXT,
    nonce             TEXT,
    scopes            TEXT    NOT NULL,
    audiences         TEXT    NOT NULL,
    user_id           TEXT    NOT NULL,
    sid               TEXT    NOT NULL,
    auth_time         BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    redeemed_at       BIGINT,
    family_id         TEXT,
    access_jti        TEXT,
    access_expires_at BIGINT
);

CREATE TABLE refresh_token_families (
    id                     TEXT    PRIMARY KEY,
    client_id              TEXT    NOT NULL,
    user_id                TEXT    NOT NULL,
    sid                    TEXT    NOT NULL,
    scopes                 TEXT    NOT NULL,
    audiences              TEXT    NOT NULL,
    auth_time              BIGINT NOT NULL,
    created_at             BIGINT NOT NULL,
    expires_at             BIGINT NOT NULL,
    revoked_at             BIGINT,
    last_access_jti        TEXT,
    last_access_expires_at BIGINT
);
CREATE INDEX refresh_token_families_by_sid ON refresh_token_families (sid);

CREATE TABLE refresh_tokens (
    token_hash BYTEA    PRIMARY KEY,
    family_id  TEXT    NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

CREATE TABLE revocations (
    cursor     BIGSERIAL PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('jti', 'sid', 'sub')),
    value      TEXT    NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revocations_by_value ON revocations (value);
