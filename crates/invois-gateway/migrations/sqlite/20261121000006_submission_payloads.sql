-- The exact body of each submission moves to a table of its own, written once and never
-- updated. SQLite rewrites a whole row on every UPDATE, so while the payload (up to 5 MB)
-- sat in `submissions`, each state change and each poll claim copied it again.
CREATE TABLE submission_payloads (
    submission_id INTEGER PRIMARY KEY REFERENCES submissions (id),
    payload BLOB NOT NULL
);
INSERT INTO submission_payloads (submission_id, payload) SELECT id, payload FROM submissions;
ALTER TABLE submissions ADD COLUMN payload_bytes INTEGER NOT NULL DEFAULT 0;
UPDATE submissions SET payload_bytes = length(payload);
ALTER TABLE submissions DROP COLUMN payload;
