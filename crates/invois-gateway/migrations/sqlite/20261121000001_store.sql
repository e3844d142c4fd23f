-- The gateway store (SQLite). Keep in step with migrations/postgres.

CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    on_behalf_of TEXT NOT NULL DEFAULT '',
    -- The exact body POSTed (at most once), and its SHA-256.
    payload BLOB NOT NULL,
    payload_sha256 TEXT NOT NULL,
    document_count INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('intent', 'accepted', 'outcome_unknown', 'duplicate',
        'refused', 'split', 'not_received')),
    submission_uid TEXT,
    worker TEXT NOT NULL,
    lease_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX submissions_state ON submissions (state, id);

CREATE TABLE documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_tin TEXT NOT NULL,
    type_code TEXT NOT NULL,
    internal_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    format TEXT NOT NULL CHECK (format IN ('xml', 'json')),
    client_id TEXT NOT NULL,
    on_behalf_of TEXT NOT NULL DEFAULT '',
    received BLOB NOT NULL,
    received_sha256 TEXT NOT NULL,
    prepared BLOB,
    prepared_size INTEGER,
    document_hash TEXT,
    state TEXT NOT NULL CHECK (state IN ('received', 'prepared', 'rejected_locally', 'batched',
        'submitted', 'valid', 'invalid', 'cancelled', 'failed')),
    submission_id INTEGER REFERENCES submissions (id),
    uuid TEXT,
    long_id TEXT,
    validation_link TEXT,
    errors TEXT,
    last_error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    locked_by TEXT,
    lease_until TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (issuer_tin, type_code, internal_id, version)
);
CREATE INDEX documents_state ON documents (state, id);
CREATE INDEX documents_group ON documents (state, client_id, on_behalf_of, id);
CREATE INDEX documents_submission ON documents (submission_id);
CREATE INDEX documents_uuid ON documents (uuid);
CREATE INDEX documents_issuer ON documents (issuer_tin, id);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER REFERENCES documents (id),
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    locked_by TEXT,
    lease_until TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at, id);

-- Only the SHA-256 of each key is kept; the key is shown once at creation.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
