-- When MyInvois validated each document (`dateTimeValidated`), kept for the buyer's copy,
-- which must print it. NULL until the poller records it, and for documents made valid
-- before this column existed (the gateway then asks MyInvois once). Keep in step with
-- migrations/sqlite.
ALTER TABLE documents ADD COLUMN validated_at TIMESTAMPTZ;
