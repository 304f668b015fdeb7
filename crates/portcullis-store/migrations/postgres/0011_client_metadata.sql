-- Client metadata of RFC 7591 §2 and its extensions: public keys by value (`jwks`, a JWK Set as
-- JSON) or by reference (`jwks_uri`) for private_key_jwt; RFC 9449 §5.2
-- `dpop_bound_access_tokens`; OpenID Connect Back-Channel Logout 1.0 `backchannel_logout_uri`.
-- A confidential client now has a secret or keys (private_key_jwt).
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
DO $$
DECLARE
    old_rule TEXT;
BEGIN
    SELECT conname INTO old_rule FROM pg_constraint
    WHERE conrelid = 'clients'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%secret_hash%';
    IF old_rule IS NOT NULL THEN
        EXECUTE format('ALTER TABLE clients DROP CONSTRAINT %I', old_rule);
    END IF;
END $$;
ALTER TABLE clients ADD CONSTRAINT clients_public_has_no_secret
    CHECK (kind = 'confidential' OR secret_hash IS NULL);
ALTER TABLE clients ADD CONSTRAINT clients_confidential_has_credentials
    CHECK (kind = 'public' OR secret_hash IS NOT NULL OR jwks IS NOT NULL OR jwks_uri IS NOT NULL);
ALTER TABLE clients ADD CONSTRAINT clients_one_key_source
    CHECK (jwks IS NULL OR jwks_uri IS NULL);
