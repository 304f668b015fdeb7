-- Sign-in through upstream identity providers: upstream identities linked to local accounts
-- (one per provider and subject, at most one per provider and account; they go with the
-- account), and the provider a session's user signed in through.
CREATE TABLE federated_identities (
    provider  TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    user_id   TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email     TEXT,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (user_id, provider)
) STRICT;

ALTER TABLE sessions ADD COLUMN identity_provider TEXT;
