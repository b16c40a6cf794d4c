-- Issue 11: alerts reach people and the tools they already run.
-- Notification channels, the durable outbox the notifier delivers from, SIEM export destinations with their
-- cursors, long-lived API tokens, and the running totals /metrics reads instead of scanning.

-- A channel is the admin's configuration: `config` holds the kind's settings, `secrets` apart (an SMTP password, a
-- webhook signing secret), so that the API and the GDPR export, which leave out columns named like secrets,
-- never hand them out.
CREATE TABLE notification_channels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('email', 'syslog', 'webhook')),
    enabled INTEGER NOT NULL DEFAULT 1,
    config TEXT NOT NULL,              -- JSON: the kind's settings, without its secrets
    secrets TEXT NOT NULL DEFAULT '{}', -- JSON: {"password": ...} / {"secret": ...}
    routing TEXT NOT NULL,             -- JSON: minimum severity, rules, sensors, quiet hours, digest
    content TEXT NOT NULL,             -- JSON: what the messages carry beyond the default
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- How delivery to a channel is going; written by the notifier, so the admin's row above is never contended.
CREATE TABLE notification_channel_state (
    channel_id TEXT PRIMARY KEY REFERENCES notification_channels (id) ON DELETE CASCADE,
    failures INTEGER NOT NULL DEFAULT 0,        -- consecutive failed attempts
    retry_at REAL NOT NULL DEFAULT 0,           -- the channel's back-off: nothing is tried before this
    last_error TEXT NOT NULL DEFAULT '',
    last_success_at REAL,
    last_failure_at REAL
);

-- One row per message to send. `message` is the rendered content, fixed when queued, and `message_id` is the
-- same on every attempt (e-mail Message-ID, webhook-id / Idempotency-Key, syslog structured data), so that
-- a message sent again after a crash is recognisable as the same one.
CREATE TABLE notification_outbox (
    id INTEGER PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('alert', 'digest')),
    message_id TEXT NOT NULL UNIQUE,
    message TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,        -- counted before each try: a crash mid-send still counts
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    last_attempt_at REAL,
    sent_at REAL
);
CREATE INDEX notification_outbox_due ON notification_outbox (channel_id, status, next_attempt_at, id);
CREATE INDEX notification_outbox_by_status ON notification_outbox (status, id);
CREATE INDEX notification_outbox_recent ON notification_outbox (channel_id, kind, created_at);

-- Which alert went (or is held for a digest) to which channel: at most once per channel and alert, so an
-- incident update never becomes a new notification. outbox_id NULL: held for the channel's next digest.
CREATE TABLE notification_alerts (
    channel_id TEXT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    alert_id TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('raised', 'escalated')),
    routed_at REAL NOT NULL,
    outbox_id INTEGER REFERENCES notification_outbox (id) ON DELETE CASCADE,
    PRIMARY KEY (channel_id, alert_id)
) WITHOUT ROWID;
CREATE INDEX notification_alerts_held ON notification_alerts (channel_id, outbox_id, routed_at);
CREATE INDEX notification_alerts_by_alert ON notification_alerts (alert_id);
CREATE INDEX notification_alerts_by_message ON notification_alerts (outbox_id);

-- The notifier's durable cursor: every decision trace up to this position in the hash chain has been routed.
-- It starts at the chain's end: a box that gains the notifier does not notify its whole history.
CREATE TABLE notifier_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    trace_seq INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
INSERT INTO notifier_cursor (id, trace_seq, updated_at)
SELECT 1, coalesce(max(seq), 0), unixepoch('subsec') FROM decision_traces;

-- SIEM export over syslog: each destination streams the export from its own cursor (the same cursor the pull
-- API hands out), advanced only once the receiver has taken a page.
CREATE TABLE export_destinations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    config TEXT NOT NULL,              -- JSON: address, transport, schema, which records
    cursor TEXT NOT NULL,
    events_sent INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    retry_at REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_sent_at REAL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- Long-lived API tokens. Only a SHA-256 of the secret is kept (the secret is 256 random bits, shown once).
-- A personal token acts for its owner, named by id AND name: an account deleted and re-created under the same
-- name does not inherit it. No foreign key to users, which other migrations rebuild.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('personal', 'service')),
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    user_id INTEGER,
    username TEXT,
    secret_sha256 TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    last_used_at REAL,
    last_used_from TEXT,
    revoked_at REAL,
    revoked_by TEXT,
    CHECK ((kind = 'personal') = (username IS NOT NULL AND user_id IS NOT NULL))
);
CREATE INDEX api_tokens_by_owner ON api_tokens (username, created_at);

-- Capture counters per sensor, summed at ingest from each batch's CaptureStats (per-batch deltas), so that
-- /metrics serves them as Prometheus counters without decoding payloads.
CREATE TABLE capture_totals (
    agent_id TEXT PRIMARY KEY,
    batches INTEGER NOT NULL DEFAULT 0,
    flows INTEGER NOT NULL DEFAULT 0,
    packets INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    kernel_drops INTEGER NOT NULL DEFAULT 0,
    malformed INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
-- Batches already queued count their flows; their packet counters stay inside payloads (counted from here on).
INSERT INTO capture_totals (agent_id, batches, flows, updated_at)
SELECT agent_id, count(*), sum(flows), max(received_at) FROM ingest_batches GROUP BY agent_id;

-- Alerts raised, by rule and by the severity they were raised with: a counter that never goes down (the
-- alert_counts of 0003 move an alert between severities when an incident escalates).
CREATE TABLE alert_raised_totals (
    rule_name TEXT NOT NULL,
    severity TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (rule_name, severity)
) WITHOUT ROWID;
INSERT INTO alert_raised_totals (rule_name, severity, n)
SELECT rule_name, severity, count(*) FROM alerts GROUP BY rule_name, severity;

CREATE TRIGGER alert_raised_totals_insert AFTER INSERT ON alerts BEGIN
    INSERT INTO alert_raised_totals (rule_name, severity, n) VALUES (new.rule_name, new.severity, 1)
    ON CONFLICT (rule_name, severity) DO UPDATE SET n = n + 1;
END;
