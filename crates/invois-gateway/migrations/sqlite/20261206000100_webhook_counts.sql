-- Webhook deliveries per state, kept by triggers as each row changes, like the documents'
-- counts (20261206000075): the dashboard's delivery cards and /metrics counted every
-- delivery with a GROUP BY, and a drained backlog of a million documents leaves two million
-- deliveries behind it (one per status event), all `delivered`, none ever deleted.
CREATE TABLE webhook_delivery_counts (
    state TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);
INSERT INTO webhook_delivery_counts (state, n)
    SELECT state, COUNT(*) FROM webhook_deliveries GROUP BY state;

CREATE TRIGGER webhook_deliveries_count_insert AFTER INSERT ON webhook_deliveries
BEGIN
    INSERT INTO webhook_delivery_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER webhook_deliveries_count_update AFTER UPDATE OF state ON webhook_deliveries
    WHEN OLD.state <> NEW.state
BEGIN
    UPDATE webhook_delivery_counts SET n = n - 1 WHERE state = OLD.state;
    INSERT INTO webhook_delivery_counts (state, n) VALUES (NEW.state, 1)
        ON CONFLICT (state) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER webhook_deliveries_count_delete AFTER DELETE ON webhook_deliveries
BEGIN
    UPDATE webhook_delivery_counts SET n = n - 1 WHERE state = OLD.state;
END;
