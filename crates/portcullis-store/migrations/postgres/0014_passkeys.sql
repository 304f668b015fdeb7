-- Passkeys and security keys (WebAuthn): a user's credentials, each with its name, the
-- credential as the WebAuthn library keeps it (public key, algorithm, signature counter, backup
-- flags; JSON) and when it was last used. A credential id belongs to one user only.
CREATE TABLE passkeys (
    credential_id   BYTEA    PRIMARY KEY,
    user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    credential      TEXT    NOT NULL,
    backup_eligible BIGINT NOT NULL,
    backed_up       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);
