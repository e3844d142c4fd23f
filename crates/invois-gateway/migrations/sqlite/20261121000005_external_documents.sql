-- Documents issued outside the gateway (the MyInvois portal, another system), recorded by
-- `invois archive backfill` from Search Documents. Keep in step with migrations/postgres.
CREATE TABLE external_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    submission_uid TEXT NOT NULL,
    long_id TEXT,
    internal_id TEXT NOT NULL,
    issuer_tin TEXT NOT NULL,
    issuer_name TEXT,
    receiver_id TEXT,
    receiver_name TEXT,
    type_name TEXT NOT NULL,
    type_version TEXT NOT NULL,
    status TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    validated_at TEXT,
    cancelled_at TEXT,
    -- Amounts as listed, in decimal text (exact).
    total_sales TEXT,
    total_discount TEXT,
    net_amount TEXT,
    total TEXT,
    submission_channel TEXT,
    -- The whole listing entry (JSON text): what Search Documents said, kept as said.
    listing TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX external_documents_issuer ON external_documents (issuer_tin, id);
CREATE INDEX external_documents_received ON external_documents (received_at);
