-- A document's bytes, as received and as prepared for MyInvois, each in a table of its own.
-- They used to be columns of `documents`, whose row changes five or six times in a
-- document's life (claimed, prepared, batched, submitted, valid). SQLite rewrites a whole
-- row on every update, overflow pages included, so each of those changes wrote the 10-25 KB
-- of both documents again: the whole-path bench measured 330 KB written per document
-- (WAL and checkpoint). Each body is now written once, and a state change rewrites a row of
-- a few hundred bytes. PostgreSQL keeps large values out of line already (TOAST); the
-- schema is the same on both so that every query is too.
CREATE TABLE document_received_bytes (
    document_id INTEGER PRIMARY KEY REFERENCES documents (id),
    bytes BLOB NOT NULL
);
CREATE TABLE document_prepared_bytes (
    document_id INTEGER PRIMARY KEY REFERENCES documents (id),
    bytes BLOB NOT NULL
);
INSERT INTO document_received_bytes (document_id, bytes) SELECT id, received FROM documents;
INSERT INTO document_prepared_bytes (document_id, bytes)
    SELECT id, prepared FROM documents WHERE prepared IS NOT NULL;
ALTER TABLE documents DROP COLUMN received;
ALTER TABLE documents DROP COLUMN prepared;
