-- Self-service registration: verified addresses, one account per address (in any letter case),
-- single-use invitations, registrations waiting for their address to be confirmed, and email
-- verification links, each stored only as the SHA-256 of its token. A database holding two
-- accounts of one address must have one of them changed first.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
DROP INDEX users_by_email_key;
CREATE UNIQUE INDEX users_by_email_key ON users (lower(email));
CREATE TABLE invitations (
    token_hash BYTEA   PRIMARY KEY,
    email_key  TEXT,
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE TABLE pending_registrations (
    token_hash    BYTEA   PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    return_to     TEXT,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL
);
CREATE TABLE email_verification_links (
    token_hash BYTEA   PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL,
    return_to  TEXT,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX email_verification_links_by_user ON email_verification_links (user_id);
