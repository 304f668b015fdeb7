-- PostgreSQL twin of migrations/sqlite/0001_foundation.sql: the same tables and columns, so the one set of
-- queries in src/sql serves both. Integers are BIGINT, bytes BYTEA.

-- Users, clients and signing keys. Lists are space-separated: every element is validated by the
-- domain to contain no whitespace.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    roles         TEXT    NOT NULL,
    email         TEXT,
    password_hash TEXT    NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled_at   BIGINT
);

CREATE TABLE clients (
    id                         TEXT    PRIMARY KEY,
    kind                       TEXT    NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_hash                BYTEA,
    grant_types                TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    audiences                  TEXT    NOT NULL,
    access_token_lifetime_secs BIGINT,
    created_at                 BIGINT NOT NULL,
    CHECK ((kind = 'confidential') = (secret_hash IS NOT NULL))
);

CREATE TABLE signing_keys (
    kid                TEXT    PRIMARY KEY,
    alg                TEXT    NOT NULL,
    created_at         BIGINT NOT NULL,
    activates_at       BIGINT NOT NULL,
    sealed_private_key BYTEA    NOT NULL
);
