-- Strong authentication. Sessions, codes and refresh token families record how the user
-- authenticated (RFC 8176 `amr` values, space-separated; rows from before read as a password).
-- A client can require a second factor. A user's one-time-code app (RFC 6238), stored once its
-- first code confirmed it, has its secret sealed with the key-encryption key, the last time step
-- used (a code is good once) and the wrong codes in a row; recovery codes are stored as keyed
-- hashes, each good once.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE refresh_token_families ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE clients ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;

CREATE TABLE totp_factors (
    user_id       TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB    NOT NULL,
    confirmed_at  INTEGER NOT NULL,
    last_step     INTEGER NOT NULL,
    failures      INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE recovery_codes (
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;
