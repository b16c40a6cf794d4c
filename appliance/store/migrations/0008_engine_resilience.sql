-- The engine never stops on one batch, and a restart changes no decision.
-- attempts: counted before each try, so a batch that kills the engine's process is set aside after three;
-- failed_at, error: a batch set aside (the engine went on without it; an admin may retry it);
-- processed_seq: the order in which the engine finished batches (a restart replays those after its checkpoint).
ALTER TABLE ingest_batches ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_batches ADD COLUMN failed_at REAL;
ALTER TABLE ingest_batches ADD COLUMN error TEXT;
ALTER TABLE ingest_batches ADD COLUMN processed_seq INTEGER;
CREATE UNIQUE INDEX ingest_batches_processed ON ingest_batches (processed_seq) WHERE processed_seq IS NOT NULL;
CREATE INDEX ingest_batches_failed ON ingest_batches (failed_at) WHERE failed_at IS NOT NULL;

-- The rules' state as of a point in the processing order; the baseline of that same point is engine_state's
-- 'baseline', written in the same transaction.
CREATE TABLE engine_checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    processed_seq INTEGER NOT NULL,    -- covers every batch finished up to this one
    fingerprint TEXT NOT NULL,         -- of the rules' code and configuration that made the state
    rules BLOB NOT NULL,               -- RuleSet.saved_state()
    created_at REAL NOT NULL
);
