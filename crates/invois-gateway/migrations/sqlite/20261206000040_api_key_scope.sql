-- What each API key may do: `full` (everything, as every key could before) or `read_only`
-- (GET only: an accountant's or auditor's key; every write is refused with 403). Keep in
-- step with migrations/postgres.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
