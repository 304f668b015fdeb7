-- OpenID Connect Back-Channel Logout 1.0. The clients each session signed in to (a row per
-- session and client, from the first token it got in the session), and the durable queue of
-- logout notices, a row per client to tell once a session has ended, until it answered 2xx or
-- the retries ran out.
CREATE TABLE session_clients (
    sid        TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (sid, client_id)
) STRICT;
CREATE INDEX session_clients_created ON session_clients (created_at);

CREATE TABLE logout_notices (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    sid             TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
) STRICT;
CREATE INDEX logout_notices_due ON logout_notices (next_attempt_at, id);
