-- Webhooks (issue 6 item 8): the relay that turns status events into deliveries, and the
-- delivery log's replays. Keep in step with migrations/postgres.
--
-- An event is relayed exactly once: the relay marks it (`relayed_at`) in the same transaction
-- that inserts its delivery. A plain "last relayed id" cursor is not enough on PostgreSQL:
-- identity values are handed out before commit, so an event with a lower id can become
-- visible after one with a higher id, and a cursor would already have moved past it.
ALTER TABLE document_events ADD COLUMN relayed_at TEXT;
CREATE INDEX document_events_unrelayed ON document_events (id) WHERE relayed_at IS NULL;

-- One row. Every relay pass locks it first (an UPDATE), so two gateway instances relay one
-- after the other; it also records how far relaying got, for the dashboard and operators.
CREATE TABLE webhook_relay (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL DEFAULT 0,
    events_relayed INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT
);
INSERT INTO webhook_relay (id) VALUES (1);

-- Which event a delivery announces, and which delivery a replay repeats. An event has at
-- most one original (non-replay) delivery: the database refuses a second.
ALTER TABLE webhook_deliveries ADD COLUMN event_id INTEGER REFERENCES document_events (id);
ALTER TABLE webhook_deliveries ADD COLUMN replay_of INTEGER REFERENCES webhook_deliveries (id);
CREATE UNIQUE INDEX webhook_deliveries_event_once ON webhook_deliveries (event_id)
    WHERE replay_of IS NULL;
CREATE INDEX webhook_deliveries_document ON webhook_deliveries (document_id, id);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, id);
