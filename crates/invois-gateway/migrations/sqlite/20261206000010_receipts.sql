-- Monthly consolidation (business rules §1): the B2C receipts the ERP posts, the issuers'
-- supplier details the gateway writes into the documents it builds, and one consolidation
-- per issuer and month. Keep in step with migrations/postgres.

-- The supplier details (and consolidation options) of an issuer, as JSON text.
CREATE TABLE receipt_issuers (
    issuer_tin TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One per issuer and month: created first (so a second request finds it), then its receipts
-- are assigned, its documents stored, and it is `stored`.
CREATE TABLE consolidations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_tin TEXT NOT NULL,
    -- `YYYY-MM`, a Malaysian calendar month.
    month TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('building', 'stored')),
    -- `month_end` (the pipeline's loop) or `on_demand` (the API).
    origin TEXT NOT NULL,
    -- The documents' issue instant, fixed when the row is made, so that a rebuild after a
    -- crash writes the same bytes and intake takes them as a repeat.
    issued_at TEXT NOT NULL,
    -- The last day the documents may be submitted on, `YYYY-MM-DD`.
    deadline TEXT NOT NULL,
    -- What was built (JSON text), once stored.
    summary TEXT,
    warned_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (issuer_tin, month)
);

CREATE TABLE receipts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer_tin TEXT NOT NULL,
    number TEXT NOT NULL,
    month TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    -- Amounts in decimal text (exact).
    amount TEXT NOT NULL,
    tax_type TEXT NOT NULL,
    tax_rate TEXT NOT NULL,
    tax_amount TEXT NOT NULL,
    exemption_reason TEXT,
    description TEXT,
    classification TEXT,
    branch TEXT NOT NULL DEFAULT '',
    activity TEXT,
    diplomatic INTEGER NOT NULL DEFAULT 0,
    -- What was posted, hashed: the same number again with other content is a conflict.
    content_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'consolidated', 'excluded', 'individual')),
    consolidation_id INTEGER REFERENCES consolidations (id),
    -- The consolidated e-invoice it went into, or its own individual e-invoice.
    document_id INTEGER REFERENCES documents (id),
    exclusion_rule TEXT,
    exclusion_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (issuer_tin, number)
);
CREATE INDEX receipts_month ON receipts (issuer_tin, month, state);
CREATE INDEX receipts_open ON receipts (state, month);
CREATE INDEX receipts_consolidation ON receipts (consolidation_id, state);
