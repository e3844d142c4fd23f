-- Webhook deliveries settled (`delivered`, `dead`), counted per state by a trigger as each
-- settles: the dashboard's delivery cards and /metrics counted every delivery with a GROUP
-- BY, and a drained backlog of a million documents leaves two million deliveries behind it,
-- all settled, none ever deleted. Only the settled states are kept: a delivery settles once
-- and never leaves its state, so this costs one statement per delivery. The live states
-- (`pending`, `delivering`) are counted from `webhook_deliveries_due`, whose range for a
-- state holds only the work still to do; counting every change as the documents' counts do
-- (20261206000075) cost the whole-path bench 0.3-0.5 ms of CPU per document on SQLite,
-- where each trigger runs once per row.
CREATE TABLE webhook_delivery_counts (
    state TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT INTO webhook_delivery_counts (state, n)
    SELECT state, COUNT(*) FROM webhook_deliveries
    WHERE state IN ('delivered', 'dead') GROUP BY state;

CREATE TRIGGER webhook_deliveries_settled AFTER UPDATE OF state ON webhook_deliveries
    WHEN NEW.state IN ('delivered', 'dead') AND OLD.state <> NEW.state
BEGIN
    INSERT INTO webhook_delivery_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

-- Nothing deletes deliveries; an operator who prunes them keeps the counts true.
CREATE TRIGGER webhook_deliveries_settled_delete AFTER DELETE ON webhook_deliveries
    WHEN OLD.state IN ('delivered', 'dead')
BEGIN
    UPDATE webhook_delivery_counts SET n = n - 1 WHERE state = OLD.state;
END;
