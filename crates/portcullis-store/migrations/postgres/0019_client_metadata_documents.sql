-- Clients known by their Client ID Metadata Document (draft-ietf-oauth-client-id-metadata-document):
-- the id is the document's URL; the copy kept here is used until this time, then fetched again.
ALTER TABLE clients ADD COLUMN metadata_document_expires_at BIGINT;
