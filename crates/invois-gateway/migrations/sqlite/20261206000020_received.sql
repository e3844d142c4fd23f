-- Documents other taxpayers issued TO the gateway's taxpayer (issue 14 item 5), found with
-- Search Documents (invoiceDirection=Received). Keyed by MyInvois uuid, so a search that
-- overlaps an earlier one updates rows and never duplicates them. Keep in step with
-- migrations/postgres.
CREATE TABLE received_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    submission_uid TEXT NOT NULL,
    long_id TEXT,
    internal_id TEXT NOT NULL,
    type_name TEXT NOT NULL,
    type_version TEXT NOT NULL,
    issuer_tin TEXT NOT NULL,
    issuer_name TEXT,
    receiver_tin TEXT,
    receiver_name TEXT,
    -- MyInvois' status as last listed (a receiver sees only Valid and Cancelled).
    status TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    validated_at TEXT,
    cancelled_at TEXT,
    reject_requested_at TEXT,
    status_reason TEXT,
    -- Amounts as listed, in decimal text (exact).
    total_sales TEXT,
    total_discount TEXT,
    net_amount TEXT,
    total TEXT,
    -- validated_at + the rejection window: after it MyInvois refuses a rejection.
    reject_deadline TEXT,
    -- The ERP's decision: NULL (none yet), accepted (recorded here only: MyInvois has no
    -- acceptance call) or rejected (asked of MyInvois, or seen in a listing).
    decision TEXT,
    decision_reason TEXT,
    decided_at TEXT,
    -- The whole listing entry (JSON text), as Search Documents said it.
    listing TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX received_documents_issuer ON received_documents (issuer_tin, id);
CREATE INDEX received_documents_deadline ON received_documents (reject_deadline);

-- What happened to a received document, written in the transaction that records it; the
-- webhook relay turns each into one delivery, like document_events.
CREATE TABLE received_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_id INTEGER NOT NULL REFERENCES received_documents (id),
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    relayed_at TEXT
);
CREATE INDEX received_events_document ON received_events (received_id, id);
CREATE INDEX received_events_unrelayed ON received_events (id) WHERE relayed_at IS NULL;

-- A received event has at most one original (non-replay) delivery.
ALTER TABLE webhook_deliveries ADD COLUMN received_event_id INTEGER
    REFERENCES received_events (id);
CREATE UNIQUE INDEX webhook_deliveries_received_event_once
    ON webhook_deliveries (received_event_id) WHERE replay_of IS NULL;

-- How far the received-documents sweep got, per login, so a restart continues from there
-- instead of searching everything again.
CREATE TABLE received_sync (
    login TEXT PRIMARY KEY,
    -- The end of the last completed search (submission dates).
    searched_to TEXT,
    -- The creation time of the newest notification looked at, and the ids of those created
    -- at that very time (JSON array): MyInvois writes whole seconds, so a later one may share
    -- the time.
    notified_to TEXT,
    notified_ids TEXT,
    -- When the next search is due even without a notification.
    next_sweep_at TEXT,
    updated_at TEXT NOT NULL
);
