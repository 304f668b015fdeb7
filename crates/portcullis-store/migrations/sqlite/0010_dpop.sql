-- DPoP (RFC 9449): the key a public client's refresh token family is bound to, by its JWK
-- SHA-256 thumbprint; every refresh of the family must prove it.
ALTER TABLE refresh_token_families ADD COLUMN dpop_jkt TEXT;
