-- Webhook deliveries settled (`delivered`, `dead`), counted per state as they settle: the
-- dashboard's delivery cards and /metrics counted every delivery with a GROUP BY, and a
-- drained backlog of a million documents leaves two million deliveries behind it, all
-- settled, none ever deleted. Only the settled states are kept (a delivery settles once and
-- never leaves its state); the live ones (`pending`, `delivering`) are counted from
-- `webhook_deliveries_due`, whose range for a state holds only the work still to do. The
-- SQLite migration of the same name says why not every change. As with the documents'
-- counts (20261206000075), each statement appends its net change as rows instead of
-- updating a shared counter, and lease recovery folds them.
CREATE TABLE webhook_delivery_counts (
    state TEXT NOT NULL,
    n BIGINT NOT NULL
);
INSERT INTO webhook_delivery_counts (state, n)
    SELECT state, COUNT(*) FROM webhook_deliveries
    WHERE state IN ('delivered', 'dead') GROUP BY state;

CREATE FUNCTION webhook_deliveries_count_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO webhook_delivery_counts (state, n)
            SELECT state, SUM(d) FROM (
                SELECT state, 1 AS d FROM new_rows
                UNION ALL SELECT state, -1 FROM old_rows
            ) changed WHERE state IN ('delivered', 'dead')
            GROUP BY state HAVING SUM(d) <> 0;
    ELSE
        INSERT INTO webhook_delivery_counts (state, n)
            SELECT state, -COUNT(*) FROM old_rows
            WHERE state IN ('delivered', 'dead') GROUP BY state;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_deliveries_settled AFTER UPDATE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count_settled();
CREATE TRIGGER webhook_deliveries_settled_delete AFTER DELETE ON webhook_deliveries
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_count_settled();
