-- Every access token issued from a refresh token family, not only the newest, so that revoking
-- the family (reuse detection, logout, password change) revokes them all (RFC 9700 §4.14.2).
CREATE TABLE family_access_tokens (
    family_id  TEXT    NOT NULL REFERENCES refresh_token_families (id) ON DELETE CASCADE,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (family_id, jti)
);
INSERT INTO family_access_tokens (family_id, jti, expires_at)
    SELECT id, last_access_jti, last_access_expires_at FROM refresh_token_families
    WHERE last_access_jti IS NOT NULL AND last_access_expires_at IS NOT NULL;
ALTER TABLE refresh_token_families DROP COLUMN last_access_jti;
ALTER TABLE refresh_token_families DROP COLUMN last_access_expires_at;
ALTER TABLE refresh_token_families ADD COLUMN rotated_at INTEGER;
CREATE INDEX refresh_token_families_by_user ON refresh_token_families (user_id);

-- The revocation feed is read in cursor order, and a reader resumes after the highest cursor it
-- saw. Two transactions could commit in the opposite order of their cursors, and the reader would
-- then skip the slower one. So every writer of the list first updates this one row and holds its
-- lock until it commits: entries get their cursor and commit one writer at a time, in order.
CREATE TABLE revocation_writer (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    last_write INTEGER NOT NULL
);
INSERT INTO revocation_writer (id, last_write) VALUES (1, 0);
