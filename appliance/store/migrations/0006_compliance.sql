-- Compliance registers (NIS2 Art.23 incidents, GDPR Art.33(5) breaches) and the analytics roll-ups.

-- An incident groups related alerts; its NIS2 deadlines are computed from aware_at and `submissions`
-- ({"early_warning": epoch, ...}) with the deadline data in appliance/compliance/rules/.
CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'contained', 'resolved', 'closed')),
    aware_at REAL NOT NULL,
    significant INTEGER,               -- NULL: not assessed yet
    suspected_malicious INTEGER,
    cross_border INTEGER,
    impact TEXT NOT NULL DEFAULT '',
    root_cause TEXT NOT NULL DEFAULT '',
    mitigation TEXT NOT NULL DEFAULT '',
    submissions TEXT NOT NULL DEFAULT '{}',  -- JSON: stage id -> epoch seconds it was sent
    intermediate_requested_at REAL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX incidents_by_awareness ON incidents (aware_at DESC);

-- No foreign key to alerts: the register must keep naming an alert after retention has purged it.
CREATE TABLE incident_alerts (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    alert_id TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (incident_id, alert_id)
) WITHOUT ROWID;
CREATE INDEX incident_alerts_by_alert ON incident_alerts (alert_id);

-- Art.33(5): every personal-data breach, notified or not; when not, the reason must be recorded.
CREATE TABLE breaches (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    incident_id TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    aware_at REAL NOT NULL,
    nature TEXT NOT NULL DEFAULT '',
    data_categories TEXT NOT NULL DEFAULT '[]',  -- JSON list
    data_subjects_approx INTEGER,
    records_approx INTEGER,
    likely_consequences TEXT NOT NULL DEFAULT '',
    measures TEXT NOT NULL DEFAULT '',
    high_risk INTEGER NOT NULL DEFAULT 0,
    notified INTEGER NOT NULL DEFAULT 0,
    notified_at REAL,
    not_notified_reason TEXT NOT NULL DEFAULT '',
    delay_reason TEXT NOT NULL DEFAULT '',
    subjects_informed INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    CHECK (notified = 1 OR not_notified_reason <> ''),
    CHECK (notified = 0 OR notified_at IS NOT NULL)
);
CREATE INDEX breaches_by_awareness ON breaches (aware_at DESC);
CREATE INDEX breaches_by_incident ON breaches (incident_id);

-- Analytics roll-ups, kept by triggers like alert_counts (0003): each answer reads a handful of rows
-- instead of scanning a million encrypted alerts.
CREATE TABLE alert_daily_counts (
    day INTEGER NOT NULL,              -- timestamp / 86400: UTC days since the epoch
    severity TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, severity)
) WITHOUT ROWID;

-- Response time = first_response_at - created_at, summed over the alerts that have one.
CREATE TABLE alert_response_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    responded INTEGER NOT NULL,
    seconds REAL NOT NULL
);
INSERT INTO alert_response_totals (id, responded, seconds) VALUES (1, 0, 0);

-- Per source device: alerts by severity (false positives counted apart, they carry no risk).
-- Risk points weigh a critical alert 10, high 5, medium 2, low 1.
CREATE TABLE device_risk (
    source_ip TEXT PRIMARY KEY,
    critical INTEGER NOT NULL,
    high INTEGER NOT NULL,
    medium INTEGER NOT NULL,
    low INTEGER NOT NULL,
    false_positives INTEGER NOT NULL,
    open_alerts INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    points INTEGER GENERATED ALWAYS AS (10 * critical + 5 * high + 2 * medium + low) STORED
) WITHOUT ROWID;
CREATE INDEX device_risk_by_points ON device_risk (points DESC, last_seen DESC);

CREATE TABLE device_rule_counts (
    source_ip TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (source_ip, rule_name)
) WITHOUT ROWID;

INSERT INTO alert_daily_counts (day, severity, n)
SELECT timestamp / 86400, severity, count(*) FROM alerts GROUP BY 1, 2;

UPDATE alert_response_totals SET
    responded = (SELECT count(*) FROM alerts WHERE first_response_at IS NOT NULL),
    seconds = (SELECT coalesce(sum(first_response_at - created_at), 0) FROM alerts WHERE first_response_at IS NOT NULL);

INSERT INTO device_risk (source_ip, critical, high, medium, low, false_positives, open_alerts, last_seen)
SELECT source_ip,
       sum(severity = 'CRITICAL' AND status <> 'false_positive'), sum(severity = 'HIGH' AND status <> 'false_positive'),
       sum(severity = 'MEDIUM' AND status <> 'false_positive'), sum(severity = 'LOW' AND status <> 'false_positive'),
       sum(status = 'false_positive'), sum(status = 'open'), max(timestamp)
FROM alerts GROUP BY source_ip;

INSERT INTO device_rule_counts (source_ip, rule_name, n)
SELECT source_ip, rule_name, count(*) FROM alerts WHERE status <> 'false_positive' GROUP BY 1, 2;

-- One trigger pair per direction: an UPDATE takes the old row out and puts the new one in.
CREATE TRIGGER analytics_alert_in AFTER INSERT ON alerts BEGIN
    INSERT INTO alert_daily_counts (day, severity, n) VALUES (new.timestamp / 86400, new.severity, 1)
    ON CONFLICT (day, severity) DO UPDATE SET n = n + 1;
    INSERT INTO device_risk (source_ip, critical, high, medium, low, false_positives, open_alerts, last_seen)
    VALUES (new.source_ip,
            new.severity = 'CRITICAL' AND new.status <> 'false_positive', new.severity = 'HIGH' AND new.status <> 'false_positive',
            new.severity = 'MEDIUM' AND new.status <> 'false_positive', new.severity = 'LOW' AND new.status <> 'false_positive',
            new.status = 'false_positive', new.status = 'open', new.timestamp)
    ON CONFLICT (source_ip) DO UPDATE SET
        critical = critical + excluded.critical, high = high + excluded.high, medium = medium + excluded.medium,
        low = low + excluded.low, false_positives = false_positives + excluded.false_positives,
        open_alerts = open_alerts + excluded.open_alerts, last_seen = max(last_seen, excluded.last_seen);
    INSERT INTO device_rule_counts (source_ip, rule_name, n) SELECT new.source_ip, new.rule_name, 1
    WHERE new.status <> 'false_positive'
    ON CONFLICT (source_ip, rule_name) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER analytics_alert_out AFTER DELETE ON alerts BEGIN
    UPDATE alert_daily_counts SET n = n - 1 WHERE day = old.timestamp / 86400 AND severity = old.severity;
    UPDATE device_risk SET
        critical = critical - (old.severity = 'CRITICAL' AND old.status <> 'false_positive'),
        high = high - (old.severity = 'HIGH' AND old.status <> 'false_positive'),
        medium = medium - (old.severity = 'MEDIUM' AND old.status <> 'false_positive'),
        low = low - (old.severity = 'LOW' AND old.status <> 'false_positive'),
        false_positives = false_positives - (old.status = 'false_positive'),
        open_alerts = open_alerts - (old.status = 'open')
    WHERE source_ip = old.source_ip;
    UPDATE device_rule_counts SET n = n - 1
    WHERE source_ip = old.source_ip AND rule_name = old.rule_name AND old.status <> 'false_positive';
END;

-- Alerts are born open, without a response: these two rarely fire, and cost an insert nothing when not.
CREATE TRIGGER analytics_responded_in AFTER INSERT ON alerts WHEN new.first_response_at IS NOT NULL BEGIN
    UPDATE alert_response_totals SET responded = responded + 1, seconds = seconds + new.first_response_at - new.created_at;
END;

CREATE TRIGGER analytics_responded_out AFTER DELETE ON alerts WHEN old.first_response_at IS NOT NULL BEGIN
    UPDATE alert_response_totals SET responded = responded - 1, seconds = seconds - (old.first_response_at - old.created_at);
END;

-- The engine re-scores live alerts often: only a change that moves a roll-up fires this.
CREATE TRIGGER analytics_alert_changed AFTER UPDATE OF severity, status, rule_name, source_ip, timestamp, created_at,
    first_response_at ON alerts
WHEN old.severity IS NOT new.severity OR old.status IS NOT new.status OR old.rule_name IS NOT new.rule_name
    OR old.source_ip IS NOT new.source_ip OR old.timestamp IS NOT new.timestamp OR old.created_at IS NOT new.created_at
    OR old.first_response_at IS NOT new.first_response_at
BEGIN
    UPDATE alert_daily_counts SET n = n - 1 WHERE day = old.timestamp / 86400 AND severity = old.severity;
    INSERT INTO alert_daily_counts (day, severity, n) VALUES (new.timestamp / 86400, new.severity, 1)
    ON CONFLICT (day, severity) DO UPDATE SET n = n + 1;
    UPDATE alert_response_totals SET
        responded = responded - (old.first_response_at IS NOT NULL) + (new.first_response_at IS NOT NULL),
        seconds = seconds - coalesce(old.first_response_at - old.created_at, 0)
                          + coalesce(new.first_response_at - new.created_at, 0);
    UPDATE device_risk SET
        critical = critical - (old.severity = 'CRITICAL' AND old.status <> 'false_positive'),
        high = high - (old.severity = 'HIGH' AND old.status <> 'false_positive'),
        medium = medium - (old.severity = 'MEDIUM' AND old.status <> 'false_positive'),
        low = low - (old.severity = 'LOW' AND old.status <> 'false_positive'),
        false_positives = false_positives - (old.status = 'false_positive'),
        open_alerts = open_alerts - (old.status = 'open')
    WHERE source_ip = old.source_ip;
    INSERT INTO device_risk (source_ip, critical, high, medium, low, false_positives, open_alerts, last_seen)
    VALUES (new.source_ip,
            new.severity = 'CRITICAL' AND new.status <> 'false_positive', new.severity = 'HIGH' AND new.status <> 'false_positive',
            new.severity = 'MEDIUM' AND new.status <> 'false_positive', new.severity = 'LOW' AND new.status <> 'false_positive',
            new.status = 'false_positive', new.status = 'open', new.timestamp)
    ON CONFLICT (source_ip) DO UPDATE SET
        critical = critical + excluded.critical, high = high + excluded.high, medium = medium + excluded.medium,
        low = low + excluded.low, false_positives = false_positives + excluded.false_positives,
        open_alerts = open_alerts + excluded.open_alerts, last_seen = max(last_seen, excluded.last_seen);
    UPDATE device_rule_counts SET n = n - 1
    WHERE source_ip = old.source_ip AND rule_name = old.rule_name AND old.status <> 'false_positive';
    INSERT INTO device_rule_counts (source_ip, rule_name, n) SELECT new.source_ip, new.rule_name, 1
    WHERE new.status <> 'false_positive'
    ON CONFLICT (source_ip, rule_name) DO UPDATE SET n = n + 1;
END;
