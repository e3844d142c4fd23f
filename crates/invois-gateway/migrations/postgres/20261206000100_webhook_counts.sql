-- Webhook deliveries per state, kept by triggers, like the documents' counts
-- (20261206000075, which says why each statement appends its net change as rows instead of
-- updating a shared counter, and how the rows are folded): the dashboard's delivery cards and
-- /metrics counted every delivery with a GROUP BY, and a drained backlog of a million
-- documents leaves two million deliveries behind it, none ever deleted.
CREATE TABLE webhook_delivery_counts (
    state TEXT NOT NULL,
    n BIGINT NOT NULL
);
INSERT INTO webhook_delivery_counts (state, n)
    SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state;

CREATE FUNCTION webhook_deliveries_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO webhook_delivery_counts (state, n)
            SELECT state, COUNT(*) FROM new_rows GROUP BY state;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO webhook_delivery_counts (state, n)
            SELECT state, SUM(d) FROM (
                SELECT state, 1 AS d FROM new_rows
                UNION ALL SELECT state, -1 FROM old_rows
            ) changed GROUP BY state HAVING SUM(d) <> 0;
    ELSE
        INSERT INTO webhook_delivery_counts (state, n)
            SELECT state, -COUNT(*) FROM old_rows GROUP BY state;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_deliveries_count_insert AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count_changes();
CREATE TRIGGER webhook_deliveries_count_update AFTER UPDATE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count_changes();
CREATE TRIGGER webhook_deliveries_count_delete AFTER DELETE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count_changes();
