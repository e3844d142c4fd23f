-- The exact body of each submission moves to a table of its own, written once and never
-- updated (kept in step with SQLite, which rewrites a whole row on every UPDATE).
CREATE TABLE submission_payloads (
    submission_id BIGINT PRIMARY KEY REFERENCES submissions (id),
    payload BYTEA NOT NULL
);
INSERT INTO submission_payloads (submission_id, payload) SELECT id, payload FROM submissions;
ALTER TABLE submissions ADD COLUMN payload_bytes BIGINT NOT NULL DEFAULT 0;
UPDATE submissions SET payload_bytes = octet_length(payload);
ALTER TABLE submissions DROP COLUMN payload;
