-- RFC 9126 §6: a client whose authorization requests are taken only when pushed.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
