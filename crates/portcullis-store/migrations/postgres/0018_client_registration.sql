-- A name to show users (RFC 7591 client_name), and, for a client that registered itself (RFC 7591),
-- the hash of its registration access token (RFC 7592 §3).
ALTER TABLE clients ADD COLUMN client_name TEXT;
ALTER TABLE clients ADD COLUMN registration_token_hash BYTEA;
