CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL  -- JSON
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    totp_secret TEXT,
    totp_enabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);

-- Logged-out tokens stay here until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);

CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    severity TEXT NOT NULL CHECK (severity IN ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW')),
    rule_name TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    dest_ip TEXT,
    port INTEGER,
    protocol TEXT,
    score REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'reviewed', 'resolved', 'false_positive')),
    notes TEXT NOT NULL DEFAULT '',
    shap_json TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    -- first move away from 'open': the analytics' response time
    first_response_at REAL
);
-- Every list query orders newest first; each filter gets an index that already holds that order.
CREATE INDEX alerts_by_time ON alerts (timestamp DESC, id);
CREATE INDEX alerts_by_severity ON alerts (severity, timestamp DESC, id);
CREATE INDEX alerts_by_status ON alerts (status, timestamp DESC, id);
CREATE INDEX alerts_by_rule ON alerts (rule_name, timestamp DESC, id);

CREATE TABLE whitelist (
    id TEXT PRIMARY KEY,
    cidr TEXT NOT NULL,
    port INTEGER,
    direction TEXT NOT NULL DEFAULT 'any' CHECK (direction IN ('any', 'source', 'destination')),
    rule_name TEXT,
    comment TEXT NOT NULL DEFAULT '',
    expires_at REAL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);

-- Hash-chained: each entry's hash covers its content and the previous entry's hash.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    timestamp REAL NOT NULL,
    username TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,  -- JSON
    previous_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
