-- Device authorization requests (RFC 8628): under digests of the device code and the user code,
-- from the device's request until the device code is redeemed, refused or expired; the user's
-- decision (status pending, approved or denied) and, once approved, who approved it and how.
CREATE TABLE device_grants (
    device_code_hash TEXT   PRIMARY KEY,
    user_code_hash   TEXT   NOT NULL UNIQUE,
    client_id        TEXT   NOT NULL,
    requested_by     TEXT   NOT NULL,
    scope            TEXT   NOT NULL,
    audiences        TEXT   NOT NULL,
    interval_secs    BIGINT NOT NULL,
    last_polled_at   BIGINT,
    expires_at       BIGINT NOT NULL,
    status           TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    user_id          TEXT,
    sid              TEXT,
    auth_time        BIGINT,
    amr              TEXT,
    granted_scope    TEXT
);
CREATE INDEX device_grants_client ON device_grants (client_id, requested_by, expires_at);
CREATE INDEX device_grants_expiry ON device_grants (expires_at);
