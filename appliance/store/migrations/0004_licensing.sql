-- Licenses installed on the box, newest last. The row with the highest id is the box's license; older
-- rows stay as the history of what was installed when (by an admin, or refreshed by the cloud heartbeat).
-- The cloud-sync settings and last result live in `settings` ("cloud_sync", "cloud_sync_status"); the box
-- id is the setting "box_id" (appliance.box_identity).
CREATE TABLE license_keys (
    id INTEGER PRIMARY KEY,
    license_id TEXT NOT NULL,
    license_key TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    installed_at REAL NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('admin', 'cloud'))
);

-- Flows per ingested batch, so the heartbeat can count flows of the last 24 h without decoding payloads.
ALTER TABLE ingest_batches ADD COLUMN flows INTEGER NOT NULL DEFAULT 0;
CREATE INDEX ingest_batches_by_time ON ingest_batches (received_at);

-- The next seq each sensor should use, kept here (not derived from ingest_batches, which the engine may
-- prune) so a sensor that lost its spool directory never reuses a seq the box would drop as a repeat.
ALTER TABLE agents ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 0;
