-- The received and prepared documents, in id order: the two queues that preparation and
-- submission claim from, oldest first, and that the list API pages through by state.
-- `documents_state (state, id)` serves the same order, but on PostgreSQL with fresh
-- statistics after a bulk load (a million queued, nearly all `prepared`) the planner walked
-- the primary key instead, filtering on state: once the drain had moved the oldest 60,000
-- on, every claim and every page skipped them, 91-175 ms a statement and growing with each
-- document drained. An index holding only the queue's rows is small and is what the planner
-- picks (0.05-0.2 ms for the same statements).
CREATE INDEX documents_received_queue ON documents (id) WHERE state = 'received';
CREATE INDEX documents_prepared_queue ON documents (id) WHERE state = 'prepared';
