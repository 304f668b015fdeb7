-- Pushed authorization requests (RFC 9126): the parameters a client pushed, under a digest of
-- the request_uri's reference, until they expire or their authorization request is answered.
CREATE TABLE pushed_requests (
    reference_hash TEXT    PRIMARY KEY,
    client_id      TEXT    NOT NULL,
    parameters     TEXT    NOT NULL,
    opened         INTEGER NOT NULL DEFAULT 0,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX pushed_requests_client ON pushed_requests (client_id, expires_at);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
