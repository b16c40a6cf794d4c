-- Sensors ("agents" in the seed API) and the durable queue of what they ship.
CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    hostname TEXT NOT NULL,
    os_type TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
);

CREATE TABLE ingest_batches (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    received_at REAL NOT NULL,
    payload BLOB NOT NULL,  -- msgpack sensor.records.Batch
    done INTEGER NOT NULL DEFAULT 0,
    UNIQUE (agent_id, seq)
);
CREATE INDEX ingest_batches_pending ON ingest_batches (done, id);
