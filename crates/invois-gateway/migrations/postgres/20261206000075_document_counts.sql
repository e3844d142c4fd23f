-- Documents per state, kept by triggers, so that counting them (the dashboard's cards,
-- /ready, /metrics, the submitter's "is a batch worth sending") reads a few rows instead of
-- the whole table: after a day of MyInvois downtime a million documents wait, and a GROUP BY
-- over them takes as long as a page of the dashboard may.
--
-- Each statement that changes documents appends one row per state it changed (its net
-- change), and never updates a shared row: concurrent transactions (several workers, several
-- gateway instances) would otherwise queue on the nine counters until each commits, and could
-- deadlock taking two of them in opposite orders. The count of a state is the sum of its
-- rows; the store folds the rows into one per state now and then (Documents::fold_counts).
CREATE TABLE document_state_counts (
    state TEXT NOT NULL,
    n BIGINT NOT NULL
);
INSERT INTO document_state_counts (state, n)
    SELECT state, COUNT(*) FROM documents GROUP BY state;

CREATE FUNCTION documents_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO document_state_counts (state, n)
            SELECT state, COUNT(*) FROM new_rows GROUP BY state;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO document_state_counts (state, n)
            SELECT state, SUM(d) FROM (
                SELECT state, 1 AS d FROM new_rows
                UNION ALL SELECT state, -1 FROM old_rows
            ) changed GROUP BY state HAVING SUM(d) <> 0;
    ELSE
        INSERT INTO document_state_counts (state, n)
            SELECT state, -COUNT(*) FROM old_rows GROUP BY state;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER documents_count_insert AFTER INSERT ON documents
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION documents_count_changes();
CREATE TRIGGER documents_count_update AFTER UPDATE ON documents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION documents_count_changes();
CREATE TRIGGER documents_count_delete AFTER DELETE ON documents
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION documents_count_changes();

-- Status events per UTC day and state (the dashboard's chart), kept alike (appended per
-- statement, folded with the counts above): the chart read every event of its fourteen
-- days, two per document, so a drained backlog of a million made it read two million rows.
CREATE TABLE document_event_days (
    day TEXT NOT NULL,
    state TEXT NOT NULL,
    n BIGINT NOT NULL
);
CREATE INDEX document_event_days_day ON document_event_days (day);
INSERT INTO document_event_days (day, state, n)
    SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), state, COUNT(*)
    FROM document_events GROUP BY 1, 2;

CREATE FUNCTION document_events_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO document_event_days (day, state, n)
        SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), state, COUNT(*)
        FROM new_rows GROUP BY 1, 2;
    RETURN NULL;
END;
$$;

CREATE TRIGGER document_events_count AFTER INSERT ON document_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_events_count();

-- The submissions with documents awaiting validation (the poller's claim), from the index
-- alone and from the documents in flight only: the claim asked, of every accepted
-- submission ever, whether one of its documents was still `submitted`, reading the rows
-- (on SQLite, each document's bytes with them).
CREATE INDEX documents_awaiting ON documents (state, submission_id);

-- The dashboard's search by internal id (without an issuer), in the id order it pages in:
-- otherwise a scan of every row (or, on PostgreSQL, of the primary key in id order).
CREATE INDEX documents_internal_id ON documents (internal_id, id);
