-- Pushed authorization requests (RFC 9126): the parameters a client pushed, under a digest of
-- the request_uri's reference, until they expire or their authorization request is answered;
-- who pushed it (a public client's requests are counted per address) and when it was first opened.
CREATE TABLE pushed_requests (
    reference_hash TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    pushed_by      TEXT    NOT NULL,
    parameters     TEXT    NOT NULL,
    opened_at      INTEGER,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX pushed_requests_client ON pushed_requests (client_id, pushed_by, expires_at);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
