-- The engine: incidents on alerts, decision traces in a hash chain with signed checkpoints, and the
-- engine's own persistent state (the learned baseline).
ALTER TABLE alerts ADD COLUMN incident_key TEXT;
ALTER TABLE alerts ADD COLUMN evidence TEXT NOT NULL DEFAULT '{}';
ALTER TABLE alerts ADD COLUMN first_seen REAL;
ALTER TABLE alerts ADD COLUMN last_seen REAL;
ALTER TABLE alerts ADD COLUMN trace_id TEXT;
CREATE UNIQUE INDEX alerts_by_incident ON alerts (incident_key) WHERE incident_key IS NOT NULL;

CREATE TABLE decision_traces (
    seq INTEGER PRIMARY KEY,           -- position in the hash chain
    id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    outcome TEXT NOT NULL,             -- alert_raised, alert_updated, suppressed_whitelist, below_threshold, rule_not_licensed
    rule_name TEXT NOT NULL,
    incident_key TEXT NOT NULL,
    alert_id TEXT,
    source_ip TEXT NOT NULL,
    dest_ip TEXT NOT NULL,
    score REAL,
    content TEXT NOT NULL,             -- canonical JSON of every input and result of the decision
    content_sha256 TEXT NOT NULL,
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL                 -- sha256(previous_hash || content_sha256)
);
CREATE INDEX decision_traces_by_alert ON decision_traces (alert_id, seq);

-- Signed statements "the chain up to seq ends in hash": an auditor checks a trace against one.
CREATE TABLE trace_checkpoints (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    box_id TEXT NOT NULL,
    public_key TEXT NOT NULL,          -- hex Ed25519 public key of the box
    signature TEXT NOT NULL            -- hex Ed25519 signature over the canonical statement
);

-- Full-text search over rule, hosts and evidence; rowid = decision_traces.seq.
CREATE VIRTUAL TABLE trace_search USING fts5(text, tokenize = 'unicode61');

CREATE TABLE engine_state (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
