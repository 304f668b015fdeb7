-- Upstream identity providers added through the admin API: the provider as written (JSON,
-- without its secret) and its client secret sealed with the key-encryption key.
CREATE TABLE federation_providers (
    id            TEXT   PRIMARY KEY,
    spec          TEXT   NOT NULL,
    sealed_secret BYTEA,
    updated_at    BIGINT NOT NULL
);
