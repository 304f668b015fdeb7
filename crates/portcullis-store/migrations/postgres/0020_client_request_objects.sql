-- Request objects (RFC 9101): the URLs a client's request objects may be fetched from by reference
-- (space-separated, compared exactly), and how they must be signed (`none` or an algorithm; unset:
-- any of the client's keys, never unsigned).
ALTER TABLE clients ADD COLUMN request_uris TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN request_object_signing_alg TEXT;
