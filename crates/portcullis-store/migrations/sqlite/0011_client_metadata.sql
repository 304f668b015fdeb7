-- Client metadata of RFC 7591 §2 and its extensions: public keys by value (`jwks`, a JWK Set as
-- JSON) or by reference (`jwks_uri`) for private_key_jwt; RFC 9449 §5.2
-- `dpop_bound_access_tokens`; OpenID Connect Back-Channel Logout 1.0 `backchannel_logout_uri`.
-- A confidential client now has a secret or keys (private_key_jwt), so the table is rebuilt with
-- that rule (SQLite cannot change a CHECK constraint in place). The migration runs in a
-- transaction, where foreign keys cannot be turned off, and dropping the old table cascades to
-- `consents` (the only table referring to clients): the consents are kept aside and put back.
CREATE TABLE consents_kept AS SELECT * FROM consents;
CREATE TABLE clients_rebuilt (
    id                         TEXT    PRIMARY KEY,
    kind                       TEXT    NOT NULL CHECK (kind IN ('confidential', 'public')),
    secret_hash                BLOB,
    grant_types                TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    audiences                  TEXT    NOT NULL,
    access_token_lifetime_secs INTEGER,
    created_at                 INTEGER NOT NULL,
    first_party                INTEGER NOT NULL DEFAULT 0,
    post_logout_redirect_uris  TEXT    NOT NULL DEFAULT '',
    id_token_algorithm         TEXT,
    jwks                       TEXT,
    jwks_uri                   TEXT,
    dpop_bound_access_tokens   INTEGER NOT NULL DEFAULT 0,
    backchannel_logout_uri     TEXT,
    CHECK (kind = 'confidential' OR secret_hash IS NULL),
    CHECK (kind = 'public' OR secret_hash IS NOT NULL OR jwks IS NOT NULL OR jwks_uri IS NOT NULL),
    CHECK (jwks IS NULL OR jwks_uri IS NULL)
) STRICT;
INSERT INTO clients_rebuilt (id, kind, secret_hash, grant_types, redirect_uris, scopes, audiences,
                             access_token_lifetime_secs, created_at, first_party,
                             post_logout_redirect_uris, id_token_algorithm)
    SELECT id, kind, secret_hash, grant_types, redirect_uris, scopes, audiences,
           access_token_lifetime_secs, created_at, first_party, post_logout_redirect_uris,
           id_token_algorithm
    FROM clients;
DROP TABLE clients;
ALTER TABLE clients_rebuilt RENAME TO clients;
INSERT INTO consents SELECT * FROM consents_kept;
DROP TABLE consents_kept;
