-- Documents per state, kept by triggers as each row changes, so that counting them (the
-- dashboard's cards, /ready, /metrics, the submitter's "is a batch worth sending") reads nine
-- rows instead of the whole table: after a day of MyInvois downtime a million documents
-- wait, and a GROUP BY over them takes as long as a page of the dashboard may.
CREATE TABLE document_state_counts (
    state TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT INTO document_state_counts (state, n)
    SELECT state, COUNT(*) FROM documents GROUP BY state;

CREATE TRIGGER documents_count_insert AFTER INSERT ON documents
BEGIN
    INSERT INTO document_state_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER documents_count_update AFTER UPDATE OF state ON documents
    WHEN OLD.state <> NEW.state
BEGIN
    UPDATE document_state_counts SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO document_state_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER documents_count_delete AFTER DELETE ON documents
BEGIN
    UPDATE document_state_counts SET n = n - 1 WHERE state = OLD.state;
END;

-- Status events per UTC day and state (the dashboard's chart), kept alike: the chart read
-- every event of its fourteen days, two per document, so a drained backlog of a million
-- made it read two million rows. `day` is `YYYY-MM-DD`, the first ten characters of the
-- UTC time the store writes.
CREATE TABLE document_event_days (
    day TEXT NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, state)
);
INSERT INTO document_event_days (day, state, n)
    SELECT substr(created_at, 1, 10), state, COUNT(*) FROM document_events GROUP BY 1, 2;

CREATE TRIGGER document_events_count AFTER INSERT ON document_events
BEGIN
    INSERT INTO document_event_days (day, state, n)
        VALUES (substr(NEW.created_at, 1, 10), NEW.state, 1)
        ON CONFLICT (day, state) DO UPDATE SET n = n + 1;
END;

-- The submissions with documents awaiting validation (the poller's claim), from the index
-- alone and from the documents in flight only: the claim asked, of every accepted
-- submission ever, whether one of its documents was still `submitted`, reading the rows
-- (on SQLite, each document's bytes with them).
CREATE INDEX documents_awaiting ON documents (state, submission_id);

-- The dashboard's search by internal id (without an issuer), in the id order it pages in:
-- otherwise a scan of every row (or, on PostgreSQL, of the primary key in id order).
CREATE INDEX documents_internal_id ON documents (internal_id, id);
