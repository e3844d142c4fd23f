-- The deadline webhooks of monthly consolidation (consolidation.deadline_near and
-- consolidation.deadline_passed): one row per issuer, month and event, inserted in the
-- transaction that queues the delivery, so each is announced once however many gateway
-- instances run the month-end loop. Keep in step with migrations/sqlite.
CREATE TABLE consolidation_deadline_events (
    issuer_tin TEXT NOT NULL,
    -- `YYYY-MM`, a Malaysian calendar month.
    month TEXT NOT NULL,
    event TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (issuer_tin, month, event)
);
