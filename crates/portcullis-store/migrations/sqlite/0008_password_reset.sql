-- Forgotten passwords: requests queued as they came (the answer never depends on an account),
-- and single-use reset links, stored only as the SHA-256 of their token.
CREATE TABLE password_reset_requests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    email_key    TEXT    NOT NULL,
    requested_at INTEGER NOT NULL
);
CREATE TABLE password_reset_tokens (
    token_hash BLOB   PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX password_reset_tokens_by_user ON password_reset_tokens (user_id);
-- Accounts by email address, compared in lower case.
CREATE INDEX users_by_email_key ON users (lower(email));
