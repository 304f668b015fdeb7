-- PostgreSQL twin of migrations/sqlite/0013_strong_authentication.sql.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_token_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE clients ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;

CREATE TABLE totp_factors (
    user_id       TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BYTEA   NOT NULL,
    confirmed_at  BIGINT  NOT NULL,
    last_step     BIGINT  NOT NULL,
    failures      BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
