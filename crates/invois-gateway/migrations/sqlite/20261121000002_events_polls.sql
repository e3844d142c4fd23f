-- Status changes, written in the same transaction as the change itself: the webhook relay
-- and the dashboard read them, so no change can be lost between "recorded" and "announced".
CREATE TABLE document_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents (id),
    state TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX document_events_document ON document_events (document_id, id);

-- Polling pace: Get Submission is asked again only when this time has come.
ALTER TABLE submissions ADD COLUMN next_poll_at TEXT;
ALTER TABLE submissions ADD COLUMN polls INTEGER NOT NULL DEFAULT 0;
CREATE INDEX submissions_poll ON submissions (state, next_poll_at);
