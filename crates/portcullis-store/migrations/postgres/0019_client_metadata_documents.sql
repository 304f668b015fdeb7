-- Clients known by their Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document):
-- the id is the document's URL; the copy kept here is used until this time, then fetched again.
ALTER TABLE clients ADD COLUMN metadata_document_expires_at BIGINT;
-- Housekeeping finds stale ones by expiry, and deleting a client ends its refresh families.
CREATE INDEX clients_by_document_expiry ON clients (metadata_document_expires_at)
    WHERE metadata_document_expires_at IS NOT NULL;
CREATE INDEX refresh_token_families_by_client ON refresh_token_families (client_id);
